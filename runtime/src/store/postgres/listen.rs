//! LISTEN/NOTIFY: tells the node what other nodes committed — new work, a
//! finished execution, a poke for a running one.

use super::sql::{CHANNEL_DONE, CHANNEL_POKE, CHANNEL_WORK};
use crate::model::{Key, StoreEvent};
use crate::store::EventSink;
use std::time::Duration;
use tokio_postgres::NoTls;

fn event(channel: &str, payload: &str) -> Option<StoreEvent> {
    match channel {
        CHANNEL_WORK => Some(StoreEvent::Work),
        CHANNEL_DONE => Some(StoreEvent::Finished(Key::stored(payload))),
        CHANNEL_POKE => Some(StoreEvent::Poke(Key::stored(payload))),
        _ => None,
    }
}

/// Keeps a connection LISTENing on Cairn's channels and hands every
/// notification to `sink`; reconnects with exponential backoff. After each
/// (re)connection everyone is told to look again ([`StoreEvent::Resync`]):
/// notifications sent while it was away are lost.
pub(super) async fn listen_loop(url: String, sink: EventSink) {
    use futures_util::StreamExt;
    let mut delay = Duration::from_millis(100);
    loop {
        if let Ok((client, mut connection)) = tokio_postgres::connect(&url, NoTls).await {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            let sql = format!("LISTEN {CHANNEL_WORK}; LISTEN {CHANNEL_DONE}; LISTEN {CHANNEL_POKE}");
            let listen = client.batch_execute(&sql);
            let mut listen = std::pin::pin!(listen);
            let mut listening = false;
            loop {
                tokio::select! {
                    r = &mut listen, if !listening => {
                        if r.is_err() { break; }
                        listening = true;
                        delay = Duration::from_millis(100);
                        sink(StoreEvent::Resync);
                    }
                    m = messages.next() => match m {
                        Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                            if let Some(e) = event(n.channel(), n.payload()) {
                                sink(e);
                            }
                        }
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
