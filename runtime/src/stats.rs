//! What benchmarks measure and how their reports print it: samples and
//! their quantiles, durations in milliseconds, a target met or not. The one
//! place for these, used by `cairn bench` in process (`node::bench`) and
//! through the API (`cli/bench/`).

use std::time::Duration;

/// Durations a benchmark measured, sorted.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// The `p` quantile (0..=1); zero without samples.
    pub fn percentile(&self, p: f64) -> Duration {
        let sorted = &self.0;
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[i.min(sorted.len() - 1)]
    }

    /// The median.
    pub fn p50(&self) -> Duration {
        self.percentile(0.5)
    }

    /// The 99th percentile.
    pub fn p99(&self) -> Duration {
        self.percentile(0.99)
    }

    /// How many were measured.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was measured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<Duration>> for Samples {
    fn from(mut measured: Vec<Duration>) -> Samples {
        measured.sort();
        Samples(measured)
    }
}

impl FromIterator<Duration> for Samples {
    fn from_iter<I: IntoIterator<Item = Duration>>(measured: I) -> Samples {
        Samples::from(measured.into_iter().collect::<Vec<_>>())
    }
}

/// A duration in milliseconds, for reports.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// `met` or `NOT met`.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_sorted_samples() {
        let s: Samples = [5, 1, 4, 2, 3].into_iter().map(Duration::from_millis).collect();
        assert_eq!(s.p50(), Duration::from_millis(3));
        assert_eq!(s.p99(), Duration::from_millis(5));
        assert_eq!(s.percentile(0.0), Duration::from_millis(1));
        assert_eq!(Samples::default().p50(), Duration::ZERO);
        assert_eq!(ms(Duration::from_micros(1500)), "1.500 ms");
        assert_eq!((verdict(true), verdict(false)), ("met", "NOT met"));
    }
}
