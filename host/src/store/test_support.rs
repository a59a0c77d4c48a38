//! For tests (the store's own and the end-to-end ones): a PostgreSQL database of a test's own,
//! made next to the one `SWITCHBOARD_TEST_POSTGRES` names and dropped with the value — also when
//! the test fails, so failed runs leave nothing behind.

use sqlx::Connection;

pub struct TestDatabase {
    /// Where the store (or a server) connects.
    pub url: String,
    pub name: String,
    admin: String,
}

impl TestDatabase {
    /// A fresh, empty database; `None` when `SWITCHBOARD_TEST_POSTGRES` is not set.
    pub async fn create(prefix: &str) -> Option<TestDatabase> {
        let admin = std::env::var("SWITCHBOARD_TEST_POSTGRES").ok()?;
        let name = format!("{prefix}_{}", hex::encode(rand::random::<[u8; 6]>()));
        let mut conn = sqlx::postgres::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("SWITCHBOARD_TEST_POSTGRES={admin}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
        Some(TestDatabase {
            url: format!("{base}/{name}"),
            name,
            admin,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop may run on the test's runtime: a thread of its own may block on the DROP.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = sqlx::postgres::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
