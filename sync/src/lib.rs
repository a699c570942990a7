//! The sync client of the edge sync API: drains the outbox in order, signs and sends batches,
//! retries with backoff, pulls down-sync changes by cursor, verifies the doorbell webhook and
//! leases ID blocks. Also a reference central simulator with fault injection for tests and `demo`.
//! It does not know the edge's tables: it talks to the store through the traits it defines.
