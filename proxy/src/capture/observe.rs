//! The capture on the forwarding path: the [`Observer`] that turns a captured session's
//! events into queued items, never waiting (a full queue drops the item and counts it).

use std::sync::atomic::Ordering;
use std::sync::mpsc::TrySendError;
use std::sync::{Arc, PoisonError};

use bytes::Bytes;

use super::item::Item;
use super::{lock, Capture, Running};
use crate::observer::{Event, Observer};

impl Capture {
    /// Queues `item` if the queue has room, else counts it as dropped.
    pub(super) fn send(&self, running: &Running, item: Item) {
        self.send_with(running, item.weight(), || item);
    }

    /// Queues the item `make` builds, whose [`Item::weight`] is `weight`, if the queue has
    /// room; otherwise counts it as dropped without building it (a huge `Bind` or `CopyData`
    /// body is not copied just to be thrown away).
    fn send_with(&self, running: &Running, weight: usize, make: impl FnOnce() -> Item) {
        if !running.queued.reserve(weight) {
            return self.dropped(running);
        }
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            running.sender.try_send(make())
        {
            running.queued.release(1, weight as u64);
            self.dropped(running);
        }
    }

    fn dropped(&self, running: &Running) {
        running.dropped.fetch_add(1, Ordering::Relaxed);
        self.dropped_total.inc();
    }

    /// Runs `f` with the running capture if session `id` belongs to it (under the read lock:
    /// no reference count is touched on the forwarding path).
    fn with_ours(&self, id: u64, f: impl FnOnce(&Running)) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = current.as_deref().filter(|r| id >= r.first_session) {
            f(running);
        }
    }
}

impl Observer for Capture {
    fn observe(&self, event: &Event) {
        match event {
            Event::QueryFinished(query) => {
                if let Some(session) = query.connection.capture {
                    self.with_ours(session, |running| {
                        self.send(running, Item::outcome(session, query));
                    });
                }
            }
            Event::ClientMessage(message) => self.with_ours(message.session, |running| {
                let weight = Item::message_weight(message.body.as_ref().map_or(0, Bytes::len));
                self.send_with(running, weight, || Item::Message {
                    session: message.session,
                    tag: message.tag,
                    body: message.body.as_deref().map(Bytes::copy_from_slice),
                    at: message.at,
                    strings: message.strings,
                });
            }),
            Event::SessionCaptured(started) => {
                let Some(session) = started.connection.capture else {
                    return;
                };
                self.with_ours(session, |running| {
                    if let Some((pid, key)) = &started.backend_key {
                        let mut k = pid.to_be_bytes().to_vec();
                        k.extend_from_slice(key);
                        lock(&self.cancel_keys).insert(k.clone(), session);
                        lock(&self.session_keys).insert(session, k);
                    }
                    self.send(
                        running,
                        Item::Start {
                            session,
                            connection: Arc::clone(&started.connection),
                            startup: started.startup.clone(),
                            server_parameters: started.server_parameters.clone(),
                            connected: started.connected,
                        },
                    );
                });
            }
            Event::SessionEnded { session, at } => {
                if let Some(k) = lock(&self.session_keys).remove(session) {
                    lock(&self.cancel_keys).remove(&k);
                }
                self.with_ours(*session, |running| {
                    self.send(
                        running,
                        Item::End {
                            session: *session,
                            at: *at,
                        },
                    );
                });
            }
        }
    }
}
