//! Keeps ID blocks topped up: asks the store which kinds are ≥ 80% used and requests one block
//! per such kind from the central, storing it through [`IdBlockSink`].

use crate::backoff::{full_jitter, Timings};
use crate::client::CentralClient;
use crate::status::RetryReason;
use crate::store::IdBlockSink;
use crate::Shared;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

pub(crate) struct IdRequester<S> {
    pub sink: Arc<S>,
    pub client: CentralClient,
    pub timings: Timings,
    pub block_size: u64,
    pub check_every: Duration,
    pub shared: Arc<Shared>,
    pub wake: Arc<Notify>,
    pub shutdown: watch::Receiver<bool>,
}

impl<S: IdBlockSink> IdRequester<S> {
    async fn pause(&mut self, d: Duration, wakeable: bool) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.wake.notified(), if wakeable => true,
            r = self.shutdown.changed() => r.is_ok() && !*self.shutdown.borrow(),
        }
    }

    pub(crate) async fn run(mut self) {
        let mut attempt = 0u32;
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            let mut failed = None;
            match self.sink.kinds_needing_block().await {
                Ok(kinds) => {
                    for kind in kinds {
                        let r = self
                            .client
                            .request_id_block(&kind, self.block_size, self.timings.request_timeout)
                            .await;
                        self.shared.metrics.id_block_requested();
                        let r = match r {
                            Ok(block) => {
                                info!(kind = %block.kind, first = block.first, last = block.last, "ID block granted");
                                self.sink.store_id_block(block).await
                            }
                            Err(e) => Err(e),
                        };
                        if let Err(e) = r {
                            warn!(kind = %kind, error = %e, "ID block request failed");
                            failed = Some(e);
                            break;
                        }
                    }
                }
                Err(e) => failed = Some(e),
            }
            let d = match failed {
                None => {
                    attempt = 0;
                    self.check_every
                }
                Some(e) => {
                    let reason = match &e {
                        crate::SyncError::Http {
                            status: 401 | 403, ..
                        } => RetryReason::Unauthorized,
                        crate::SyncError::Store(_) => RetryReason::Store,
                        _ => RetryReason::ServerError,
                    };
                    self.shared.metrics.retry(reason);
                    let d = match &e {
                        crate::SyncError::Http {
                            status: 401 | 403, ..
                        } => self.timings.unauthorized_retry,
                        crate::SyncError::Http {
                            retry_after: Some(d),
                            ..
                        } => (*d).min(self.timings.max_server_wait),
                        _ => full_jitter(
                            self.timings.backoff_base,
                            self.timings.backoff_cap,
                            attempt,
                        ),
                    };
                    attempt = attempt.saturating_add(1);
                    if !self.pause(d, false).await {
                        break;
                    }
                    continue;
                }
            };
            if !self.pause(d, true).await {
                break;
            }
        }
    }
}
