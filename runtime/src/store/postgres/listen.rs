//! LISTEN/NOTIFY: wakes idle nodes when work arrives.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_postgres::NoTls;

/// Keeps a connection LISTENing on `cairn_work` and wakes waiters on every
/// notification; reconnects with exponential backoff.
pub(super) async fn listen_loop(url: String, work: Arc<Notify>) {
    use futures_util::StreamExt;
    let mut delay = Duration::from_millis(100);
    loop {
        if let Ok((client, mut connection)) = tokio_postgres::connect(&url, NoTls).await {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            let listen = client.batch_execute("LISTEN cairn_work");
            let mut listen = std::pin::pin!(listen);
            let mut listening = false;
            loop {
                tokio::select! {
                    r = &mut listen, if !listening => {
                        if r.is_err() { break; }
                        listening = true;
                        delay = Duration::from_millis(100);
                        work.notify_waiters();
                    }
                    m = messages.next() => match m {
                        Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => work.notify_waiters(),
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
