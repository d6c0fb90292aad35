//! The syntax of what users name: deployments, schedules, signals,
//! execution ids, tenants and workflow references.
//!
//! Each is defined once, as a [`Syntax`]: the characters it may hold, its
//! longest length and its one extra rule. The node's validator
//! ([`Syntax::valid`]), the OpenAPI document's `pattern` and `maxLength`
//! ([`Syntax::pattern`], [`Syntax::max`]) and the hint of the error a bad
//! name gets ([`Syntax::hint`]) are all derived from it, so they cannot
//! disagree (a unit test checks the pattern against the validator).

/// One range or character of a syntax's alphabet (ASCII only).
#[derive(Debug, Clone, Copy)]
enum Allowed {
    /// `a` to `b`, both included.
    Range(char, char),
    /// One character.
    Char(char),
}

use Allowed::{Char, Range};

/// The one rule beyond the alphabet and the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Not made of dots only (`.` and `..` cannot be addressed in a URL path).
    NotOnlyDots,
    /// The first character is a lowercase letter or a digit.
    StartsAlphanumeric,
    /// Exactly this many characters.
    Exactly(usize),
}

/// The syntax of one kind of name.
#[derive(Debug, Clone, Copy)]
pub struct Syntax {
    /// What it names, for messages: `execution id`.
    pub what: &'static str,
    /// Its alphabet.
    allowed: &'static [Allowed],
    /// Its longest length (every character is one byte).
    pub max: usize,
    rule: Rule,
}

const NAME_CHARS: &[Allowed] = &[
    Range('A', 'Z'),
    Range('a', 'z'),
    Range('0', '9'),
    Char('_'),
    Char('.'),
    Char('-'),
];

/// A deployment name: up to 128 of `[A-Za-z0-9_.-]`, not only dots.
pub const DEPLOYMENT: Syntax = Syntax {
    what: "deployment name",
    allowed: NAME_CHARS,
    max: 128,
    rule: Rule::NotOnlyDots,
};

/// A schedule id: a deployment name's syntax.
pub const SCHEDULE: Syntax = Syntax {
    what: "schedule id",
    ..DEPLOYMENT
};

/// A signal name: a deployment name's syntax.
pub const SIGNAL: Syntax = Syntax {
    what: "signal name",
    ..DEPLOYMENT
};

/// An execution id: up to 200 of `[A-Za-z0-9_.:~@-]`, not only dots.
pub const EXECUTION: Syntax = Syntax {
    what: "execution id",
    allowed: &[
        Range('A', 'Z'),
        Range('a', 'z'),
        Range('0', '9'),
        Char('_'),
        Char('.'),
        Char(':'),
        Char('~'),
        Char('@'),
        Char('-'),
    ],
    max: 200,
    rule: Rule::NotOnlyDots,
};

/// A tenant name: up to 64 of `[a-z0-9_-]`, starting with a letter or digit.
pub const TENANT: Syntax = Syntax {
    what: "tenant name",
    allowed: &[Range('a', 'z'), Range('0', '9'), Char('_'), Char('-')],
    max: 64,
    rule: Rule::StartsAlphanumeric,
};

/// A token's public id: 12 hexadecimal digits (of `cairn_<id>_<secret>`).
pub const TOKEN_ID: Syntax = Syntax {
    what: "token id",
    allowed: &[Range('0', '9'), Range('a', 'f'), Range('A', 'F')],
    max: 12,
    rule: Rule::Exactly(12),
};

/// The most digits of a version in a workflow reference (`name@version`).
pub const VERSION_DIGITS: usize = 18;

impl Allowed {
    fn contains(self, c: char) -> bool {
        match self {
            Range(a, b) => (a..=b).contains(&c),
            Char(x) => x == c,
        }
    }
}

impl Syntax {
    /// Refuses a name that is not of this syntax (`CAIRN-E016`, with the
    /// syntax's hint).
    pub fn check(&self, s: &str) -> crate::error::Result<()> {
        if self.valid(s) {
            return Ok(());
        }
        Err(crate::error::Error::invalid(
            format!("invalid {} `{}`", self.what, crate::error::echo(s)),
            self.hint(),
        ))
    }

    /// Whether `s` is a valid name of this kind.
    pub fn valid(&self, s: &str) -> bool {
        let rule = match self.rule {
            Rule::NotOnlyDots => s.chars().any(|c| c != '.'),
            Rule::StartsAlphanumeric => s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()),
            Rule::Exactly(n) => s.len() == n,
        };
        rule && s.len() <= self.max && s.chars().all(|c| self.allows(c))
    }

    fn allows(&self, c: char) -> bool {
        self.allowed.iter().any(|a| a.contains(c))
    }

    /// The regular expression (ECMA-262, as OpenAPI means it) of a valid
    /// name, anchored; its length is [`Syntax::max`] (`maxLength`).
    pub fn pattern(&self) -> String {
        format!("^{}$", self.unanchored())
    }

    /// The pattern without its anchors, to build longer ones from.
    fn unanchored(&self) -> String {
        let all = class(self.allowed);
        match self.rule {
            Rule::NotOnlyDots => {
                let some: Vec<Allowed> = self.allowed.iter().copied().filter(|a| !a.contains('.')).collect();
                format!("[{all}]*[{}][{all}]*", class(&some))
            }
            Rule::StartsAlphanumeric => format!("[a-z0-9][{all}]*"),
            Rule::Exactly(n) => format!("[{all}]{{{n}}}"),
        }
    }

    /// What a valid name looks like, as an error's hint says it: `use up
    /// to 128 letters, digits, '_', '.' and '-' (not only dots)`.
    pub fn hint(&self) -> String {
        let mut parts = Vec::new();
        let (upper, lower) = (self.allows('A'), self.allows('a'));
        if lower && !self.allows('g') {
            parts.push("hexadecimal digits".to_owned());
        } else {
            match (upper, lower) {
                (true, true) => parts.push("letters".to_owned()),
                (false, true) => parts.push("lowercase letters".to_owned()),
                _ => {}
            }
            if self.allows('0') {
                parts.push("digits".to_owned());
            }
        }
        for a in self.allowed {
            if let Char(c) = a {
                parts.push(format!("'{c}'"));
            }
        }
        let last = parts.pop().unwrap_or_default();
        let listed = if parts.is_empty() {
            last
        } else {
            format!("{} and {last}", parts.join(", "))
        };
        let rule = match self.rule {
            Rule::NotOnlyDots => " (not only dots)",
            Rule::StartsAlphanumeric => ", starting with a lowercase letter or a digit",
            Rule::Exactly(n) => return format!("use exactly {n} {listed}"),
        };
        format!("use up to {} {listed}{rule}", self.max)
    }
}

/// A regex character class's body for an alphabet; `-` goes last, where
/// it stands for itself.
fn class(allowed: &[Allowed]) -> String {
    let mut body = String::new();
    let mut dash = false;
    for a in allowed {
        match *a {
            Range(x, y) => body.push_str(&format!("{x}-{y}")),
            Char('-') => dash = true,
            Char(c) => body.push(c),
        }
    }
    if dash {
        body.push('-');
    }
    body
}

/// A workflow reference: a deployment name, or `name@version` with up to
/// [`VERSION_DIGITS`] digits. A reference is valid when it matches both
/// patterns (the document's `allOf`): the first bounds the name's length,
/// the second is the name's own syntax.
pub fn workflow_ref_patterns() -> [String; 2] {
    DEPLOYMENT.framed("", &format!("(@[0-9]{{1,{VERSION_DIGITS}}})?"))
}

/// A page cursor of the execution list: `<created_at_ms>:<execution id>`,
/// valid when it matches both patterns (as [`workflow_ref_patterns`]).
pub fn cursor_patterns() -> [String; 2] {
    EXECUTION.framed("-?[0-9]{1,19}:", "")
}

/// A page cursor's creation time and execution id, when it is one (a time
/// beyond `i64` is clamped to its range: the page is the same).
pub fn cursor(c: &str) -> Option<(i64, &str)> {
    let (at, id) = c.split_once(':')?;
    let digits = at.strip_prefix('-').unwrap_or(at);
    let number = (1..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    if !number || !EXECUTION.valid(id) {
        return None;
    }
    let wide: i128 = at.parse().ok()?;
    Some((wide.clamp(i64::MIN.into(), i64::MAX.into()) as i64, id))
}

impl Syntax {
    /// Two patterns a string between `prefix` and `suffix` (regex
    /// fragments) matches when it is of this syntax: the first bounds its
    /// length, the second is its own rule.
    fn framed(&self, prefix: &str, suffix: &str) -> [String; 2] {
        let all = class(self.allowed);
        [
            format!("^{prefix}[{all}]{{1,{}}}{suffix}$", self.max),
            format!("^{prefix}{}{suffix}$", self.unanchored()),
        ]
    }
}

/// The hint of a bad workflow reference.
pub const WORKFLOW_REF_HINT: &str = "use name or name@3";

#[cfg(test)]
mod tests {
    use super::*;

    /// The edge cases every syntax is checked on.
    fn cases() -> Vec<String> {
        let mut cases: Vec<String> = [
            "",
            ".",
            "..",
            "...",
            ".a",
            "a.",
            "a",
            "A",
            "0",
            "-a",
            "_a",
            "a-b_c.d",
            "a b",
            "a/b",
            "/",
            "a\\b",
            "ä",
            "日本",
            "a\u{0}",
            "a\n",
            "\n",
            "a\tb",
            "\u{7f}",
            "a:b",
            "a~1",
            "x@y",
            "a@1",
            "a@",
            "a@-1",
            "a@+1",
            "a@0x1",
            "order-7~2@x:y",
            "%2e",
            "a?b",
            "a#b",
            "a*",
            "[a]",
            "a$",
            "^a",
            "a|b",
            "😀",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for n in [63, 64, 65, 127, 128, 129, 146, 147, 148, 199, 200, 201, 256] {
            cases.push("a".repeat(n));
            cases.push(format!("{}@1", "a".repeat(n)));
        }
        cases.push(format!("a@{}", "9".repeat(18)));
        cases.push(format!("a@{}", "9".repeat(19)));
        cases.push("é".repeat(40));
        cases
    }

    /// Whether the OpenAPI document (pattern and maxLength, in characters)
    /// accepts `s`.
    fn document_accepts(pattern: &str, max: usize, s: &str) -> bool {
        regex::Regex::new(pattern).unwrap().is_match(s) && s.chars().count() <= max
    }

    #[test]
    fn the_document_accepts_exactly_what_the_validator_does() {
        for syntax in [DEPLOYMENT, SCHEDULE, SIGNAL, EXECUTION, TENANT, TOKEN_ID] {
            let pattern = syntax.pattern();
            for case in cases() {
                assert_eq!(
                    document_accepts(&pattern, syntax.max, &case),
                    syntax.valid(&case),
                    "{} {case:?} against {pattern}",
                    syntax.what
                );
            }
        }
        let patterns = workflow_ref_patterns();
        for case in cases() {
            let valid = crate::model::WorkflowRef::parse(&case).is_some_and(|w| DEPLOYMENT.valid(&w.name));
            let accepted = patterns.iter().all(|p| document_accepts(p, usize::MAX, &case));
            assert_eq!(accepted, valid, "workflow {case:?} against {patterns:?}");
        }
        let patterns = cursor_patterns();
        for case in cases() {
            for at in [
                "0",
                "-12",
                "123456789012345678",
                "1234567890123456789",
                "12345678901234567890",
                "x",
                "",
                "+1",
            ] {
                let c = format!("{at}:{case}");
                let accepted = patterns.iter().all(|p| document_accepts(p, usize::MAX, &c));
                assert_eq!(accepted, cursor(&c).is_some(), "cursor {c:?} against {patterns:?}");
            }
        }
        assert_eq!(cursor("12:a:b"), Some((12, "a:b")));
        assert_eq!(cursor(&format!("{}:a", "9".repeat(19))), Some((i64::MAX, "a")));
        assert_eq!(cursor(&format!("-{}:a", "9".repeat(19))), Some((i64::MIN, "a")));
    }

    #[test]
    fn patterns_and_hints_read_as_before() {
        assert_eq!(DEPLOYMENT.pattern(), r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$");
        assert_eq!(
            EXECUTION.pattern(),
            r"^[A-Za-z0-9_.:~@-]*[A-Za-z0-9_:~@-][A-Za-z0-9_.:~@-]*$"
        );
        assert_eq!(TENANT.pattern(), r"^[a-z0-9][a-z0-9_-]*$");
        assert_eq!(
            workflow_ref_patterns()[1],
            r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*(@[0-9]{1,18})?$"
        );
        assert_eq!(
            DEPLOYMENT.hint(),
            "use up to 128 letters, digits, '_', '.' and '-' (not only dots)"
        );
        assert_eq!(
            TENANT.hint(),
            "use up to 64 lowercase letters, digits, '_' and '-', starting with a lowercase letter or a digit"
        );
        assert!(EXECUTION.valid("order-7~2@x:y") && !EXECUTION.valid("a/b") && !EXECUTION.valid(&"x".repeat(201)));
        assert!(TENANT.valid("team-a_1") && !TENANT.valid("A") && !TENANT.valid("-a") && !TENANT.valid(""));
        assert_eq!(TOKEN_ID.hint(), "use exactly 12 hexadecimal digits");
        assert!(TOKEN_ID.valid("0123456789aB") && !TOKEN_ID.valid("0123456789a") && !TOKEN_ID.valid("0123456789ag"));
    }
}
