use std::time::Duration;

use actix_web::dev::ServerHandle;
use agentry::config::{Config, Secret, Settings};
use agentry::startup::Application;
use agentry_store::StatementCounter;
use tempfile::TempDir;

use crate::TestDb;

/// The password [`TestApp::register`] gives every account.
pub const TEST_PASSWORD: &str = "Sup3rSecret";

/// The API key every test server signs with.
pub const TEST_API_KEY: &str = "test-api-key-0123456789abcdef";

/// The real server, in-process on 127.0.0.1 and a free port, over a test database.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub config: Config,
    statements: StatementCounter,
    handle: ServerHandle,
    pub db: TestDb,
    _data_dir: TempDir,
}

impl TestApp {
    /// Start the server over `db` with default settings.
    pub async fn spawn(db: TestDb) -> TestApp {
        TestApp::spawn_with(db, Settings::default()).await
    }

    /// Start the server over `db`; `settings` override the test defaults (port 0, a temp data
    /// directory, one worker, a fixed API key, no job runner unless `jobs` asks for one and an
    /// event-log poll of an hour unless `event_poll` asks for another, so statement counts
    /// see only the requests).
    pub async fn spawn_with(db: TestDb, settings: Settings) -> TestApp {
        TestApp::spawn_with_providers(db, settings, &[]).await
    }

    /// [`TestApp::spawn_with`] with server-level provider settings, as the environment
    /// would give them (`OPENAI_API_KEY`...).
    pub async fn spawn_with_providers(
        db: TestDb,
        settings: Settings,
        providers: &[(&str, &str)],
    ) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let settings = Settings {
            data_dir: Some(data_dir.path().to_owned()),
            database_url: Some(db.url_string()),
            port: Some(settings.port.unwrap_or(0)),
            workers: Some(settings.workers.unwrap_or(1)),
            api_key: Some(settings.api_key.unwrap_or_else(|| TEST_API_KEY.to_owned())),
            jobs: Some(settings.jobs.unwrap_or(false)),
            // The dispatcher reads the log when woken; its safety-net poll would land in
            // statement counts now and then. Tests of the poll set their own.
            event_poll: Some(settings.event_poll.unwrap_or_else(|| "1h".to_owned())),
            // Tests log in quickly from one address; the ones about bursts set their own.
            auth_rate_burst: Some(settings.auth_rate_burst.unwrap_or(1000)),
            ..settings
        };
        let (mut config, _notices) = Config::resolve(settings).expect("test config");
        config.provider_settings = providers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), Secret::new((*value).to_owned())))
            .collect();
        let application = Application::build(&config, Duration::ZERO).expect("build test app");
        let port = application.port();
        let statements = application.statements();
        let handle = application.handle();
        tokio::spawn(application.run_until_stopped());
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            config,
            statements,
            handle,
            db,
            _data_dir: data_dir,
        }
    }

    /// A second server process on the same database (as another instance behind a load
    /// balancer would be), with its own memory.
    pub async fn spawn_shared(other: &TestApp) -> TestApp {
        TestApp::spawn_shared_with(other, Settings::default()).await
    }

    /// [`TestApp::spawn_shared`] with settings.
    pub async fn spawn_shared_with(other: &TestApp, settings: Settings) -> TestApp {
        TestApp::spawn_with(other.db.share(), settings).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
    }

    /// Send a request (with a token, a JSON body) and return the status and the JSON answer
    /// (`Null` when the body is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Register an account (password [`TEST_PASSWORD`]), optionally through an invitation;
    /// returns its token and user id.
    pub async fn register(&self, email: &str, invitation: Option<&str>) -> (String, String) {
        let mut body = serde_json::json!({
            "email": email, "password": TEST_PASSWORD, "confirm_password": TEST_PASSWORD,
            "first_name": "Test"
        });
        if let Some(id) = invitation {
            body["invitation_id"] = serde_json::json!(id);
        }
        let (status, registered) = self
            .call(reqwest::Method::POST, "/v1/user", None, Some(body))
            .await;
        assert_eq!(
            status,
            reqwest::StatusCode::OK,
            "registration failed: {registered}"
        );
        let field = |name: &str| {
            registered[name]
                .as_str()
                .expect("registration answer")
                .to_owned()
        };
        (field("token"), field("user_id"))
    }

    /// `invitee` (a session) accepts `invitation` (the answer of `POST /v1/invitations`).
    pub async fn accept(&self, invitee: &str, invitation: &serde_json::Value) {
        let id = invitation["id"].as_str().expect("an invitation id");
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/invitations/{id}/accept"),
                Some(invitee),
                None,
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "accept: {body}");
    }

    /// Statements the server's pooled connections have sent so far.
    pub fn statements(&self) -> u64 {
        self.statements.get()
    }

    /// Run `request` and return its result with the number of statements it cost.
    pub async fn counting<F, T>(&self, request: F) -> (T, u64)
    where
        F: std::future::Future<Output = T>,
    {
        let before = self.statements();
        let result = request.await;
        (result, self.statements() - before)
    }

    /// Stop gracefully, letting in-flight requests finish.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sending the command is immediate; nothing waits for the workers to finish.
        drop(self.handle.stop(false));
    }
}

/// `app.call` as a signed-in user (the token every agents, commands and conversations test
/// passes).
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    app.call(method, path, Some(token), body).await
}
