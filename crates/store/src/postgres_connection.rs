//! The PostgreSQL store's two connections, opened again when they close (the database
//! restarted, an administrator ended the session, the network dropped it). A call on a
//! closed connection fails as before; the next call opens a new one, with the session set up
//! again (schema, the writer's settings and prepared statements), so a short outage costs
//! the calls made during it and nothing after. What was in flight when the connection closed
//! was either committed or not, as after any lost answer; callers treat it as unknown.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use tokio_postgres::Client;

use crate::StoreResult;
use crate::postgres::connect;
use crate::postgres_shards::WRITER_SESSION_SETTINGS;
use crate::postgres_tls::PostgresTls;
use crate::postgres_writer::Statements;

/// Where and how a connection is (re)opened.
pub(crate) struct Target {
    pub url: String,
    pub schema: Option<String>,
    pub tls: PostgresTls,
}

impl Target {
    pub(crate) async fn open(&self) -> StoreResult<Client> {
        connect(&self.url, self.schema.as_deref(), &self.tls).await
    }
}

/// The reads' connection (tokio-postgres pipelines concurrent queries on it).
pub(crate) struct Reader {
    target: Arc<Target>,
    current: std::sync::Mutex<Arc<Client>>,
    /// Held while reconnecting, so that concurrent callers open one connection, not several.
    reconnecting: tokio::sync::Mutex<()>,
}

impl Reader {
    pub(crate) fn new(target: Arc<Target>, client: Client) -> Reader {
        Reader {
            target,
            current: std::sync::Mutex::new(Arc::new(client)),
            reconnecting: tokio::sync::Mutex::new(()),
        }
    }

    /// The open connection, opened again first if it closed.
    pub(crate) async fn client(&self) -> StoreResult<Arc<Client>> {
        let client = self.current();
        if !client.is_closed() {
            return Ok(client);
        }
        let _alone = self.reconnecting.lock().await;
        let client = self.current();
        if !client.is_closed() {
            return Ok(client);
        }
        let fresh = Arc::new(self.target.open().await?);
        tracing::info!("reconnected to PostgreSQL (reads)");
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    fn current(&self) -> Arc<Client> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The writer's connection with the statements prepared on it.
pub(crate) struct Writer {
    pub client: Client,
    pub statements: Statements,
}

impl Deref for Writer {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// The writer's connection, one user at a time (the writer task's groups, administrative
/// writes between them).
pub(crate) struct WriterSlot {
    target: Arc<Target>,
    writer: tokio::sync::Mutex<Writer>,
}

impl WriterSlot {
    pub(crate) fn new(target: Arc<Target>, writer: Writer) -> WriterSlot {
        WriterSlot {
            target,
            writer: tokio::sync::Mutex::new(writer),
        }
    }

    /// The writer, its connection opened again first if it closed.
    pub(crate) async fn lock(&self) -> StoreResult<tokio::sync::MutexGuard<'_, Writer>> {
        let mut writer = self.writer.lock().await;
        if writer.client.is_closed() {
            let client = self.target.open().await?;
            client.batch_execute(WRITER_SESSION_SETTINGS).await?;
            let statements = Statements::prepare(&client).await?;
            *writer = Writer { client, statements };
            tracing::info!("reconnected to PostgreSQL (writes)");
        }
        Ok(writer)
    }
}
