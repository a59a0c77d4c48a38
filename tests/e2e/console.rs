//! The web console in a real browser: Debian's chromium, driven over WebDriver (chromedriver)
//! from the test. An office manager logs in, adds an employee (the access mail arrives at the
//! SMTP sink), sets up a number through the form generated from the voice menu's settings
//! schema, watches a real sipp call appear live on the dashboard and then in the call log with
//! its trace and recording; the employee logs in and sees only his own.
//!
//! With `SWITCHBOARD_SCREENSHOTS=<dir>` the test saves its screenshots there (the README's
//! come from `SWITCHBOARD_SCREENSHOTS=docs/images`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Server, TOKEN};
use crate::mail::{SmtpSink, exchange_mailing_to, free_port};

/// A headless chromium under chromedriver, gone with this.
pub struct Browser {
    pub client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        let port = free_port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (apt-get install chromium chromium-driver)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "args": [
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", "--autoplay-policy=no-user-gesture-required",
                format!("--user-data-dir={}", profile.path().display()),
            ]}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a chromium session");
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Goes to `path` on `server`'s HTTP listener.
    pub async fn open(&self, server: &Server, path: &str) {
        self.client.goto(&format!("{}{path}", server.http)).await.unwrap();
    }

    /// Waits (up to `secs`) for an element `css` to be on the page.
    pub async fn wait_for(&self, css: &str, secs: u64) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(secs))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} within {secs} s: {e}"))
    }

    /// Presses the button `css` and waits for the page it leads to.
    pub async fn click(&self, css: &str) {
        self.mark_page().await;
        self.client
            .find(Locator::Css(css))
            .await
            .expect(css)
            .click()
            .await
            .unwrap();
        self.wait_new_page(css).await;
    }

    /// Presses the button `css`, says yes to the question it asks, and waits for the next page.
    pub async fn click_and_confirm(&self, css: &str) {
        self.mark_page().await;
        self.client
            .find(Locator::Css(css))
            .await
            .expect(css)
            .click()
            .await
            .unwrap();
        self.client.accept_alert().await.expect("the button asks first");
        self.wait_new_page(css).await;
    }

    /// Marks the page, so that [`Browser::wait_new_page`] knows when another replaced it.
    async fn mark_page(&self) {
        self.client
            .execute("document.documentElement.dataset.before = 'submit'", vec![])
            .await
            .unwrap();
    }

    /// Waits until the marked page is replaced by a loaded one.
    async fn wait_new_page(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let state = self
                .client
                .execute(
                    "return [document.documentElement.dataset.before || '', document.readyState]",
                    vec![],
                )
                .await;
            if let Ok(state) = state
                && state == json!(["", "complete"])
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what} led to no new page from {}",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fills the form `form_css` by field name, submits it and waits for the page it leads to.
    pub async fn submit(&self, form_css: &str, fields: &[(&str, &str)]) {
        let form = self.fill(form_css, fields).await;
        self.mark_page().await;
        form.submit().await.unwrap();
        self.wait_new_page(form_css).await;
    }

    /// Fills the form `form_css` by field name, without sending it.
    pub async fn fill(&self, form_css: &str, fields: &[(&str, &str)]) -> fantoccini::elements::Form {
        let form = self.client.form(Locator::Css(form_css)).await.expect(form_css);
        for (name, value) in fields {
            form.set_by_name(name, value)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        form
    }

    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css, 10).await.text().await.unwrap()
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Saves a screenshot of the page as `name` when `SWITCHBOARD_SCREENSHOTS` names a folder.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        self.save(name, png).await;
    }

    /// Saves `png` as `name` when `SWITCHBOARD_SCREENSHOTS` names a folder.
    pub async fn save(&self, name: &str, png: Vec<u8>) {
        assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
        if let Some(dir) = std::env::var_os("SWITCHBOARD_SCREENSHOTS") {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), png).unwrap();
        }
    }
}

async fn log_in(browser: &Browser, server: &Server, login: &str, password: &str) {
    browser.open(server, "/console/").await;
    assert!(
        browser.path().await.starts_with("/console/login"),
        "{}",
        browser.path().await
    );
    browser
        .submit(
            "form[action='/console/login']",
            &[("login", login), ("password", password)],
        )
        .await;
}

/// The voice menu's settings for the test's number: nobody presses anything, so after a second
/// the caller leaves a message in Alice's mailbox.
const VOICEMAIL_ROUTE: &str =
    r#"{"voicemail": {"greeting": "short-greeting", "thanks": null, "max_secs": 30, "silence_secs": 0}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_manager_runs_the_exchange_from_the_console() {
    let smtp = free_port();
    let sink = SmtpSink::start(smtp).await;
    let server = exchange_mailing_to(smtp).await;
    let (status, body) =
        crate::media::upload_prompt(&server, "short-greeting", crate::media::tone_wav(440.0, 16_000, 1000)).await;
    assert_eq!(status, 201, "{body}");
    let browser = Browser::start().await;

    // The operator logs in with his token; a wrong one is refused on the page.
    browser.open(&server, "/").await;
    assert!(browser.path().await.starts_with("/console/login"));
    browser
        .submit(
            "form[action='/console/login']",
            &[("login", "operator"), ("password", "wrong")],
        )
        .await;
    assert!(browser.text("#login-error").await.contains("wrong login or password"));
    log_in(&browser, &server, "operator", TOKEN).await;
    assert_eq!(browser.text("main h1").await, "Dashboard");

    // A new employee: a bad extension is refused beside its field, then she is created and
    // her access details arrive by mail.
    browser.open(&server, "/console/employees").await;
    let alice = [
        ("login", "alice"),
        ("name", "Alice Archer"),
        ("position", "Sales manager"),
        ("extension", "1"),
        ("email", "alice@example.com"),
        ("password", "correct-horse"),
    ];
    browser.submit("#add-employee", &alice).await;
    let error = browser.text("#e-extension").await;
    assert!(error.contains("digits"), "{error}");
    let field = browser.client.find(Locator::Css("#f-extension")).await.unwrap();
    assert_eq!(field.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    // What she typed stays (but never the password).
    assert_eq!(
        browser
            .client
            .find(Locator::Css("#f-name"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Alice Archer")
    );
    browser
        .submit("#add-employee", &[("extension", "101"), ("password", "correct-horse")])
        .await;
    assert_eq!(browser.path().await, "/console/employees/alice?created=1");
    assert!(browser.text(".notice").await.contains("Employee created"));
    let mail = sink.message_to("alice@example.com").await;
    assert!(mail.contains("User name: alice"), "{mail}");

    // Bob gets no password from the admin: a one-time link to set his own, shown once and
    // mailed with his access details.
    browser.open(&server, "/console/employees").await;
    let bob = [
        ("login", "bob"),
        ("name", "Bob Baker"),
        ("extension", "102"),
        ("email", "bob@example.com"),
        ("password", ""),
    ];
    browser.submit("#add-employee", &bob).await;
    let link = browser.text("#password-link code").await;
    assert!(
        link.starts_with(&format!("{}/console/set-password/sb_", server.http)),
        "{link}"
    );
    let mail = sink.message_to("bob@example.com").await;
    // (Long lines travel quoted-printable: soft line breaks are `=` at a line's end.)
    let unfolded = mail.replace("=\r\n", "").replace("=\n", "");
    assert!(unfolded.contains(&link), "the link is in the mail: {mail}");

    // Flows: an upload, refused when it is no component, and the simulator on the voice menu.
    browser.open(&server, "/console/flows").await;
    let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = readme.canonicalize().unwrap();
    let file = browser.wait_for("#f-wasm", 5).await;
    file.send_keys(&readme.display().to_string()).await.unwrap();
    browser.click("#upload-flow button[type='submit']").await;
    let refused = browser.text("#e-wasm").await;
    assert!(refused.contains("invalid flow component"), "{refused}");
    let file = browser.wait_for("#f-wasm", 5).await;
    file.send_keys(env!("SWITCHBOARD_TEST_FLOW_MISBEHAVE")).await.unwrap();
    browser.fill("#upload-flow", &[("name", "misbehave")]).await;
    browser.click("#upload-flow button[type='submit']").await;
    assert!(
        browser.path().await.starts_with("/console/flows/"),
        "{}",
        browser.path().await
    );
    assert!(browser.text("main h1").await.starts_with("misbehave"));
    browser.click_and_confirm("button[value='delete']").await;
    assert_eq!(browser.path().await, "/console/flows");
    assert!(!browser.text("table.flows").await.contains("misbehave"));
    let ivr = server.get_json("/flows/ivr").await;
    browser
        .open(&server, &format!("/console/flows/{}", ivr["sha256"].as_str().unwrap()))
        .await;
    browser
        .fill("#simulate", &[("settings", "{}"), ("script", "1s press 2")])
        .await;
    browser.click("#simulate button[value='simulate']").await;
    let simulated = browser.text("#simulation").await;
    assert!(
        simulated.contains("→ 2") && simulated.contains("support"),
        "{simulated}"
    );
    browser
        .client
        .execute("document.getElementById('sim-h').scrollIntoView()", vec![])
        .await
        .unwrap();
    browser.screenshot("console-simulator.png").await;

    // Sales: Alice and Bob, Bob first, a step of 10 s — with buttons, no script needed.
    browser.open(&server, "/console/departments/sales").await;
    for login in ["alice", "bob"] {
        browser.fill("#edit-department", &[("add_member", login)]).await;
        browser.click("button[value='add']").await;
    }
    browser.click("button[value='up:bob']").await;
    browser.fill("#edit-department", &[("step_secs", "10")]).await;
    browser.click("button[value='save']:not(.visually-hidden)").await;
    assert!(browser.text(".notice").await.contains("Saved"));
    let order = browser.text("#members").await;
    assert!(order.find("bob") < order.find("alice"), "{order}");
    browser.screenshot("console-department.png").await;
    let sales = server.get_json("/departments/sales").await;
    assert_eq!(
        (sales["members"].clone(), sales["step_secs"].clone()),
        (json!(["bob", "alice"]), json!(10)),
        "{sales}"
    );

    // A number answered by the voice menu, set up through the form made from its schema: a
    // value under the schema's minimum is refused beside its input.
    browser.open(&server, "/console/numbers").await;
    browser
        .submit("form[action='/console/numbers']", &[("add", "+1 555 0100 300")])
        .await;
    assert_eq!(browser.path().await, "/console/numbers/%2B15550100300");
    assert_eq!(
        browser
            .client
            .find(Locator::Css("#f-flow-pick"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("ivr")
    );
    // (The browser itself keeps numbers within the schema's bounds: the inputs carry them.)
    let bounds = browser.client.find(Locator::Css("#s-timeout_ms")).await.unwrap();
    assert_eq!(bounds.attr("min").await.unwrap().as_deref(), Some("500"));
    let settings = [
        ("s.greeting", "short-greeting"),
        ("s.timeout_ms", "1000"),
        ("s.retries", "0"),
        ("s.options", "{}"),
        ("s.default", r#"{"department": "sails"}"#),
        ("mailbox", "alice"),
    ];
    browser.submit("#assign", &settings).await;
    let error = browser.text("#se-default").await;
    assert!(error.contains("\"sails\" is not a \"department\""), "{error}");
    browser.submit("#assign", &[("s.default", VOICEMAIL_ROUTE)]).await;
    assert!(
        browser.text(".notice").await.contains("Saved"),
        "{}",
        browser.path().await
    );
    browser.screenshot("console-number.png").await;
    // The route map: the voice menu explored in the simulator, drawn as a picture.
    let map = browser.wait_for("svg#route-map", 10).await;
    let drawn = map.text().await.unwrap();
    assert!(
        drawn.contains("Menu: plays short-greeting, waits 1 s for a digit") && drawn.contains("Records a message"),
        "{drawn}"
    );
    assert!(drawn.contains("no digit"), "{drawn}");
    assert!(
        browser.client.find(Locator::Css("#map-cut-short")).await.is_err(),
        "explored to the end"
    );
    // A number with the default chain: business hours, then the menu, then the departments.
    server.assign_default("+15550100100").await;
    browser.open(&server, "/console/numbers/%2B15550100100").await;
    let map = browser.wait_for("svg#route-map", 10).await;
    let drawn = map.text().await.unwrap();
    for part in [
        "Open now? (business hours: office)",
        "open",
        "closed",
        "pressed 2",
        "Looks up department support",
    ] {
        assert!(drawn.contains(part), "{part:?} in {drawn}");
    }
    browser
        .save("console-route-map.png", map.screenshot().await.unwrap())
        .await;
    // A menu that replays itself ten times has more decisions than a map follows: it says so.
    server
        .assign("+15550100200", "ivr", json!({ "retries": 10, "options": {} }))
        .await;
    browser.open(&server, "/console/numbers/%2B15550100200").await;
    let section = browser.text("section.route-map").await;
    assert!(section.contains("cut short"), "{section}");
    let cut = browser.text("#map-cut-short").await;
    assert!(cut.contains("cut short"), "{cut}");
    let assigned = server.get_json("/numbers").await;
    let number = assigned["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["number"] == "+15550100300")
        .unwrap();
    assert_eq!(number["settings"]["timeout_ms"], 1000, "{assigned}");
    assert_eq!(number["settings"]["default"]["voicemail"]["max_secs"], 30, "{assigned}");
    assert_eq!(number["mailbox"], "alice", "{assigned}");

    // A real call: it shows on the dashboard while it lasts, without a reload.
    browser.open(&server, "/console/").await;
    assert_eq!(browser.text("#calls-now").await, "0");
    let caller = leave_message_in_background(&server);
    // (The page does not reload: the row comes over the live view's event stream.)
    let row = browser.wait_for("#live tr[data-call]", 15).await;
    assert!(row.text().await.unwrap().contains("+15550100300"));
    assert_eq!(browser.text("#calls-now").await, "1");
    browser.screenshot("console-dashboard.png").await;
    caller.await.unwrap();
    // It leaves the live view when it ends.
    browser.wait_for("#live p.empty", 15).await;

    // In the call log, with its trace and the message to play (the record is written just
    // after the call leaves the live view).
    server.call_record("+15550100300").await;
    browser.open(&server, "/console/calls").await;
    browser
        .client
        .find(Locator::Css("table.calls tbody a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(browser.text("main h1").await.contains("+15550100300"));
    let trace = browser.text("ol.trace").await;
    assert!(trace.contains("voicemail"), "{trace}");
    let seconds = audio_duration(&browser).await;
    assert!(seconds > 2.0, "the recording plays in the page: {seconds} s");
    browser.screenshot("console-call.png").await;
    // The company's voicemail, every mailbox's, to play in the page.
    browser.open(&server, "/console/voicemail").await;
    assert!(browser.text("table.voicemail").await.contains("+15550100001"));
    assert!(audio_duration(&browser).await > 2.0);
    // The operator's companies, each with its plan and state.
    browser.open(&server, "/console/companies").await;
    assert!(browser.text("table.companies").await.contains("active"));
    browser.screenshot("console-companies.png").await;

    // Alice logs in: her own page with her message; the admin's pages are not hers.
    browser.submit("form.logout", &[]).await;
    assert!(browser.path().await.starts_with("/console/login"));
    log_in(&browser, &server, "alice", "correct-horse").await;
    assert_eq!(browser.path().await, "/console/me");
    assert!(browser.text("ul.voicemail").await.contains("+15550100001"));
    assert!(audio_duration(&browser).await > 2.0);
    let nav = browser.text("header nav").await;
    assert!(!nav.contains("Employees") && !nav.contains("Calls"), "{nav}");
    // The directory is everyone's: positions, extensions, departments, phones.
    browser.open(&server, "/console/directory").await;
    let directory = browser.text("table.directory").await;
    for part in ["Alice Archer", "Sales manager", "101", "Bob Baker", "sales", "offline"] {
        assert!(directory.contains(part), "{part:?} in {directory}");
    }
    browser.screenshot("console-directory.png").await;
    browser.open(&server, "/console/employees").await;
    assert_eq!(browser.text("main h1").await, "forbidden");
    browser.open(&server, "/console/calls").await;
    assert_eq!(browser.text("main h1").await, "forbidden");

    // Bob opens his link, sets his password and logs in with it; the link works once.
    browser.open(&server, "/console/me").await;
    browser.submit("form.logout", &[]).await;
    browser.client.goto(&link).await.unwrap();
    browser
        .submit(
            "#set-password",
            &[("password", "bobs-own-secret"), ("password_again", "bobs-own-secret")],
        )
        .await;
    let after = browser.text("main").await;
    assert!(after.contains("Your password is set"), "{after}");
    browser
        .submit(
            "form[action='/console/login']",
            &[("login", "bob"), ("password", "bobs-own-secret")],
        )
        .await;
    assert_eq!(browser.path().await, "/console/me");
    assert!(browser.text("main h1").await.contains("Bob Baker"));
    browser.client.goto(&link).await.unwrap();
    browser
        .submit(
            "#set-password",
            &[("password", "someone-elses"), ("password_again", "someone-elses")],
        )
        .await;
    assert!(
        browser
            .text("#set-password-error")
            .await
            .contains("used, expired or never made")
    );
    browser.open(&server, "/console/me").await;
    browser.submit("form.logout", &[]).await;
    log_in(&browser, &server, "alice", "correct-horse").await;

    // She switches "ring my mobile after 15 s" on from a phone-sized screen.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.open(&server, "/console/me").await;
    browser
        .submit(
            "#my-settings",
            &[("mobile", "+15550100999"), ("mobile_after_secs", "15")],
        )
        .await;
    assert!(browser.text(".notice").await.contains("Saved"));
    browser.screenshot("console-phone.png").await;
    let me: Value = server.get_json("/employees/alice").await;
    assert_eq!(
        (me["mobile"].as_str(), me["mobile_after_secs"].as_i64()),
        (Some("+15550100999"), Some(15)),
        "{me}"
    );
}

/// Calls the number and leaves a message (the caller hangs up after 9 s).
fn leave_message_in_background(server: &Server) -> tokio::task::JoinHandle<()> {
    let sip = server.sip;
    tokio::spawn(async move {
        let run = crate::media::leave_a_message_at(sip, "+15550100300", 9000, Duration::from_secs(6)).await;
        assert!(run.success, "sipp: {}", run.output);
    })
}

/// Loads the page's first `<audio>` and says how long it plays.
async fn audio_duration(browser: &Browser) -> f64 {
    let script = r#"
        const done = arguments[arguments.length - 1];
        const audio = document.querySelector("audio");
        audio.addEventListener("loadedmetadata", () => done(audio.duration));
        audio.addEventListener("error", () => done(-1));
        audio.preload = "auto";
        audio.load();
    "#;
    let duration = browser.client.execute_async(script, vec![]).await.unwrap();
    duration.as_f64().unwrap_or(-1.0)
}

/// A browser without a browser: a session cookie, kept by hand, and no redirects followed.
pub(crate) struct CookieJar {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl CookieJar {
    pub(crate) async fn log_in(server: &Server, login: &str, password: &str) -> (CookieJar, String) {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http
            .post(format!("{}/console/login", server.http))
            .form(&[("login", login), ("password", password), ("next", "/console/")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "login as {login}");
        let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let jar = CookieJar {
            http,
            base: server.http.clone(),
            cookie,
        };
        (jar, set_cookie)
    }

    /// Reads the event stream at `path` until it has sent `needle` (what it sent by then), or
    /// panics after `secs` seconds.
    pub(crate) async fn events_until(&self, path: &str, needle: &str, secs: u64) -> String {
        let mut stream = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200, "{path}");
        let mut seen = String::new();
        let read = async {
            while let Some(chunk) = stream.chunk().await.unwrap() {
                seen.push_str(&String::from_utf8_lossy(&chunk));
                if seen.contains(needle) {
                    return;
                }
            }
        };
        let done = tokio::time::timeout(Duration::from_secs(secs), read).await;
        assert!(done.is_ok(), "{path} never sent {needle:?}: {seen}");
        seen
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// The page's CSRF token (every form of a session carries the same).
    async fn csrf(&self) -> String {
        let (_, html) = self.get("/console/").await;
        let at = html.find("name=\"csrf\" value=\"").expect("a form with its CSRF token") + 19;
        html[at..at + 32].to_owned()
    }

    async fn post(&self, path: &str, origin: Option<&str>, form: &[(&str, &str)]) -> (u16, String) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let r = request.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

/// The console keeps the API's rules because it asks the API: another company's admin gets a
/// 404 for the home company's employee, call and recording, and cannot take its number. Forms
/// without the session's CSRF token, or sent from another site, are refused; the cookie is
/// HttpOnly and SameSite=Strict; logging out ends the session's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_keeps_the_apis_rules_and_refuses_forged_forms() {
    let server = Server::start().await;
    let server = crate::media::voicemail_on(server, json!({ "max_secs": 30, "silence_secs": 0 })).await;
    crate::media::leave_a_message(&server, "+15550100300", 4500, Duration::from_secs(3)).await;
    let call = server.call_record("+15550100300").await;
    let recordings = server.get_json("/recordings").await;
    let recording = recordings["recordings"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) = server
        .send(
            Method::POST,
            "/employees",
            json!({ "login": "carol", "password": "correct-horse", "extension": "102" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    crate::tenancy::beta(&server, json!({})).await;
    let beta_login = format!("alice@{}", crate::tenancy::BETA);
    let (beta, set_cookie) = CookieJar::log_in(&server, &beta_login, crate::tenancy::BETA_PASSWORD).await;
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );

    // The home company's things are not there for Beta.
    let call_page = format!("/console/calls/{}", call["id"].as_str().unwrap());
    let recording_page = format!("/console/recordings/{recording}");
    for path in ["/console/employees/carol", call_page.as_str(), recording_page.as_str()] {
        let (status, page) = beta.get(path).await;
        assert_eq!(status, 404, "{path}: {page}");
        assert!(
            !page.contains("+15550100001") && !page.contains("carol@"),
            "{path}: {page}"
        );
    }
    let (status, page) = beta.get("/console/calls").await;
    assert_eq!(status, 200);
    assert!(
        !page.contains("+15550100300"),
        "Beta's call log shows only Beta's calls: {page}"
    );
    let csrf = beta.csrf().await;
    let take = [("csrf", csrf.as_str()), ("flow", "ivr"), ("timezone", "UTC")];
    let (_, page) = beta.post("/console/numbers/+15550100300", None, &take).await;
    assert!(page.contains("another company"), "{page}");
    let home = server.get_json("/numbers").await;
    assert_eq!(
        home["numbers"][0]["mailbox"], "alice",
        "the home number is untouched: {home}"
    );

    // Forged forms: no token, a stale one, another site.
    let change = |csrf: &'static str| [("csrf", csrf), ("name", "Mallory"), ("email", ""), ("mobile", "")];
    let (status, _) = beta.post("/console/me", None, &change("")).await;
    assert_eq!(status, 403);
    let (status, _) = beta
        .post("/console/me", None, &change("0123456789abcdef0123456789abcdef"))
        .await;
    assert_eq!(status, 403);
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Mallory"),
        ("email", ""),
        ("mobile", ""),
    ];
    let (status, _) = beta.post("/console/me", Some("http://evil.example"), &form).await;
    assert_eq!(status, 403);
    let (status, _) = beta.post("/console/me", Some(&server.http), &form).await;
    assert_eq!(status, 303, "the same form from the console itself is taken");

    // Logging out ends the token behind the cookie, not just the cookie.
    let (status, _) = beta.post("/console/logout", None, &[("csrf", csrf.as_str())]).await;
    assert_eq!(status, 303);
    let (status, _) = beta.get("/console/").await;
    assert_eq!(status, 303, "the old cookie opens nothing");
}

/// A set-password link in a mail (quoted-printable soft breaks undone), with `base` in place of
/// the public address it names.
fn set_password_path(mail: &str) -> String {
    let text = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let at = text
        .find("/console/set-password/")
        .expect("a set-password link in the mail");
    text[at..].split_whitespace().next().unwrap().to_owned()
}

/// With `--signup`, a stranger registers a company on the public page: it gets a test domain
/// and the sign-up plan, its admin a mail with the console, his login and a link (on the
/// operator's public address, whatever Host the stranger sent); he sets his password and logs
/// in. An address may sign up only a few times. Without `--signup` there is no such page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_signs_up_on_the_public_page_when_the_operator_opens_it() {
    let closed = Server::start().await;
    let r = reqwest::get(format!("{}/console/signup", closed.http)).await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("Sign-up is closed"));
    let (status, _) = closed
        .send(
            Method::POST,
            "/signup",
            json!({ "company": "X", "email": "x@example.com" }),
        )
        .await;
    assert_eq!(status, 404);
    drop(closed);

    let port = free_port();
    let sink = SmtpSink::start(port).await;
    let smtp = format!("smtp://127.0.0.1:{port}");
    let public = "https://pbx.example.com";
    let server = Server::start_flagged(&["--signup", "--public-url", public, "--smtp-url", &smtp]).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login_page = http.get(format!("{}/console/login", server.http)).send().await.unwrap();
    assert!(
        login_page.text().await.unwrap().contains("/console/signup"),
        "the login page offers it"
    );
    let form = |company: &str, email: &str| {
        http.post(format!("{}/console/signup", server.http))
            .header("host", "evil.example")
            .form(&[
                ("company", company),
                ("name", "Nora North"),
                ("email", email),
                ("login", "nora"),
            ])
    };
    // Bad input is named beside its field and costs no sign-up.
    let r = form("Nordwind Bakery", "not-an-address").send().await.unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"e-email\""), "{page}");

    let r = form("Nordwind Bakery", "nora@nordwind.example").send().await.unwrap();
    assert_eq!(r.status(), 201);
    let page = r.text().await.unwrap();
    assert!(page.contains("Check your mail"), "{page}");
    let mail = sink.message_to("nora@nordwind.example").await;
    let domain = server.get_json("/companies").await["companies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Nordwind Bakery")
        .map(|c| c["sip_domain"].as_str().unwrap().to_owned())
        .expect("the company is on the exchange");
    let unfolded = mail.replace("=\r\n", "").replace("=\n", "");
    assert!(unfolded.contains(&format!("Log in as: nora@{domain}")), "{mail}");
    assert!(unfolded.contains(&format!("{public}/console/set-password/")), "{mail}");
    assert!(
        !unfolded.contains("evil.example"),
        "a stranger's Host never goes into mail: {mail}"
    );
    let company = server.get_json("/companies").await;
    let signed = company["companies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sip_domain"] == domain.as_str())
        .unwrap()
        .clone();
    assert_eq!(signed["plan"]["max_employees"], 10, "the sign-up plan: {signed}");

    // The link sets the password; the admin logs in to his company's console.
    let link = set_password_path(&mail);
    let r = http
        .post(format!("{}{link}", server.http))
        .form(&[("password", "nordwind-bread-7"), ("password_again", "nordwind-bread-7")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{link}");
    let (nora, _) = CookieJar::log_in(&server, &format!("nora@{domain}"), "nordwind-bread-7").await;
    let (status, dashboard) = nora.get("/console/").await;
    assert_eq!(status, 200);
    assert!(dashboard.contains("Nordwind Bakery"), "{dashboard}");
    let (status, _) = nora.get("/console/companies").await;
    assert_eq!(status, 403, "a signed-up admin is no operator");

    // The same address may not sign up company after company.
    let mut statuses = Vec::new();
    for n in 0..4 {
        let r = form(&format!("Spam {n}"), "spam@example.com").send().await.unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses,
        [201, 201, 429, 429],
        "3 per address, then one every 20 minutes"
    );
}

/// The operator's pages: every company with its plan, a new company with its first admin,
/// its plan changed and the company suspended from the form — as the API does it. A company's
/// admin gets 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_manages_companies_and_plans_from_the_console() {
    let server = Server::start().await;
    let (beta_id, _) = crate::tenancy::beta(&server, json!({})).await;
    let beta_login = format!("alice@{}", crate::tenancy::BETA);
    let (beta, _) = CookieJar::log_in(&server, &beta_login, crate::tenancy::BETA_PASSWORD).await;
    let (status, _) = beta.get("/console/companies").await;
    assert_eq!(status, 403, "a company's admin is no operator");
    let (operator, _) = CookieJar::log_in(&server, "operator", TOKEN).await;
    let (status, page) = operator.get("/console/companies").await;
    assert_eq!(status, 200);
    assert!(page.contains(crate::tenancy::BETA), "{page}");
    let csrf = operator.csrf().await;

    let company = [
        ("csrf", csrf.as_str()),
        ("name", "Gamma Ltd"),
        ("sip_domain", "gamma.example"),
        ("admin_login", "gus"),
        ("admin_name", "Gus"),
        ("admin_email", ""),
        ("max_employees", "5"),
        ("max_numbers", "x"),
    ];
    let (status, page) = operator.post("/console/companies", None, &company).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("id=\"e-max_numbers\""), "the bad limit is named: {page}");
    let mut company = company.to_vec();
    company[7] = ("max_numbers", "");
    let (status, page) = operator.post("/console/companies", None, &company).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Give its admin this link") && page.contains("set-password&#x2f;sb_"),
        "no mail: the link is shown: {page}"
    );
    let gamma = server.get_json("/companies").await["companies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sip_domain"] == "gamma.example")
        .cloned()
        .expect("gamma is made");
    assert_eq!(
        (&gamma["plan"]["max_employees"], &gamma["plan"]["max_numbers"]),
        (&json!(5), &Value::Null)
    );

    let beta_page = format!("/console/companies/{beta_id}");
    let plan = [
        ("csrf", csrf.as_str()),
        ("action", "plan"),
        ("max_calls", "2"),
        ("max_employees", ""),
    ];
    let (status, _) = operator.post(&beta_page, None, &plan).await;
    assert_eq!(status, 303);
    let suspend = [
        ("csrf", csrf.as_str()),
        ("action", "suspend"),
        ("suspended_reason", "unpaid"),
    ];
    let (status, _) = operator.post(&beta_page, None, &suspend).await;
    assert_eq!(status, 303);
    let beta = server.get_json(&format!("/companies/{beta_id}")).await;
    assert_eq!(
        (
            &beta["plan"]["max_calls"],
            &beta["suspended"],
            &beta["suspended_reason"]
        ),
        (&json!(2), &json!(true), &json!("unpaid")),
        "{beta}"
    );
    let (status, page) = operator.get(&beta_page).await;
    assert_eq!(status, 200);
    assert!(page.contains("Lift the suspension"), "{page}");
}

/// An admin's other pages: a schedule written as people write hours (a bad one named beside
/// its day), a contact card with a note, a callback asked for and completed; an employee sees
/// his own calls and nobody else's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_contacts_callbacks_and_own_calls_in_the_console() {
    let server = Server::start().await;
    let (status, body) = server
        .send(
            Method::POST,
            "/employees",
            json!({ "login": "carol", "password": "correct-horse", "extension": "102", "name": "Carol" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (admin, _) = CookieJar::log_in(&server, "operator", TOKEN).await;
    let csrf = admin.csrf().await;

    // Schedules.
    let (status, _) = admin
        .post("/console/schedules", None, &[("csrf", &csrf), ("id", "shop")])
        .await;
    assert_eq!(status, 303);
    let (status, page) = admin.get("/console/schedules/shop").await;
    assert_eq!(status, 200, "a new schedule's empty form");
    assert!(page.contains("New schedule"), "{page}");
    let mut hours = vec![
        ("csrf", csrf.as_str()),
        ("action", "save"),
        ("name", "Shop hours"),
        ("mon", "09:00-13:00, 14:00-18:00"),
        ("tue", "9 to 5"),
        ("holidays", "2026-12-25\n2026-12-26"),
        ("extra_days", "2026-12-19 10:00-14:00"),
    ];
    let (status, page) = admin.post("/console/schedules/shop", None, &hours).await;
    assert_eq!(status, 422);
    assert!(page.contains("id=\"e-tue\""), "{page}");
    hours[4] = ("tue", "");
    let (status, page) = admin.post("/console/schedules/shop", None, &hours).await;
    assert_eq!(status, 303, "{page}");
    let shop = server.get_json("/schedules/shop").await;
    assert_eq!(
        shop["weekly"]["mon"],
        json!([["09:00", "13:00"], ["14:00", "18:00"]]),
        "{shop}"
    );
    assert_eq!(shop["holidays"], json!(["2026-12-25", "2026-12-26"]));
    assert_eq!(shop["extra_days"][0]["hours"], json!([["10:00", "14:00"]]));
    assert!(shop["weekly"].get("tue").is_none(), "closed on Tuesdays: {shop}");

    // A contact, a note, a callback asked for and done.
    let contact = [
        ("csrf", csrf.as_str()),
        ("phone", "+15550100777"),
        ("name", "Dora Dough"),
        ("employee", "carol"),
        ("next_follow_up", "2027-01-15"),
    ];
    let (status, _) = admin.post("/console/contacts", None, &contact).await;
    assert_eq!(status, 303);
    let card = server.get_json("/contacts?phone=%2B15550100777").await["contacts"][0].clone();
    assert_eq!(
        (&card["name"], &card["employee"]),
        (&json!("Dora Dough"), &json!("carol")),
        "{card}"
    );
    assert!(card["next_follow_up_at"].is_i64(), "{card}");
    let page = format!("/console/contacts/{}", card["id"]);
    let note = [
        ("csrf", csrf.as_str()),
        ("action", "note"),
        ("kind", "call-out"),
        ("result", "sent the price list"),
    ];
    assert_eq!(admin.post(&page, None, &note).await.0, 303);
    let ask = [
        ("csrf", csrf.as_str()),
        ("action", "callback"),
        ("phone", "+15550100777"),
        ("reason", "wants a quote"),
        ("employee", "carol"),
        ("due", ""),
    ];
    assert_eq!(admin.post(&page, None, &ask).await.0, 303);
    let (status, list) = admin.get("/console/contacts").await;
    assert_eq!(status, 200);
    assert!(list.contains("wants a quote"), "the callback waits: {list}");
    let callback = server.get_json("/callbacks").await["callbacks"][0].clone();
    let complete = [
        ("csrf", csrf.as_str()),
        ("contact", "0"),
        ("result", "quoted 120 loaves"),
        ("reached", "on"),
        ("status", "done"),
    ];
    let (status, _) = admin
        .post(&format!("/console/callbacks/{}", callback["id"]), None, &complete)
        .await;
    assert_eq!(status, 303);
    let done = server.get_json(&format!("/callbacks/{}", callback["id"])).await;
    assert_eq!(
        (&done["status"], &done["result"]),
        (&json!("done"), &json!("quoted 120 loaves")),
        "{done}"
    );
    let (_, card_page) = admin.get(&page).await;
    assert!(
        card_page.contains("sent the price list") && card_page.contains("quoted 120 loaves"),
        "{card_page}"
    );

    // Own calls: carol's page is hers; alice's calls are not carol's to read.
    let (carol, _) = CookieJar::log_in(&server, "carol", "correct-horse").await;
    let (status, page) = carol.get("/console/me/calls").await;
    assert_eq!(status, 200);
    assert!(page.contains("No calls yet."), "{page}");
    let carol_token = server.login("carol", "correct-horse").await;
    let r = server
        .request_as(&carol_token, Method::GET, "/employees/alice/calls")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = server
        .request_as(&carol_token, Method::GET, "/employees/carol/calls")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for path in ["/console/schedules", "/console/contacts"] {
        let (status, _) = carol.get(path).await;
        assert_eq!(status, 403, "{path} is the admin's");
    }
    let (status, _) = carol.get("/console/voicemail").await;
    assert_eq!(
        status, 303,
        "the company's voicemail is the admin's; carol's own is on her page"
    );
}
