//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`, installed
//! by `.ci/setup-chromium`). Each browser gets its own chromedriver on a port the OS chose and a
//! fresh profile directory; the flags keep Chromium from reaching out to the internet on its own.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use wms_test_support::outside::find_program;

pub const DEADLINE: Duration = Duration::from_secs(30);

/// Browser tests share a 2-core machine with everything else: one Chromium at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Drop for Browser {
    /// Chromium is chromedriver's child in chromedriver's own process group: ending the group
    /// ends the browser too, even when a failed test never closed its session.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A browser with a `width`×`height` window. A missing Chromium fails the test, or gives `None`
/// (reported as a skip) when `WMS_SKIP_MISSING_TOOLS` is set.
pub async fn open(width: u32, height: u32) -> Option<Browser> {
    let (Some(chromium), Some(driver)) = (
        find_program("chromium", &[]),
        find_program("chromedriver", &[]),
    ) else {
        wms_test_support::outside::missing("Chromium and chromedriver", ".ci/setup-chromium");
        return None;
    };
    let turn = ONE_AT_A_TIME.lock().await;
    // A chromedriver that picked a port another process took in the meantime exits at once:
    // a second one picks another.
    let mut tries = Vec::new();
    let (child, port) = loop {
        match start_driver(&driver) {
            Ok(started) => break started,
            Err(why) if tries.len() < 2 => tries.push(why),
            Err(why) => panic!("chromedriver did not start: {tries:?} then {why}"),
        }
    };
    let profile = tempfile::tempdir().expect("profile dir");
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
                "--autoplay-policy=no-user-gesture-required",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--window-size={width},{height}"),
            ]
        }
    });
    let caps = match caps {
        Value::Object(m) => m,
        _ => unreachable!("capabilities are an object"),
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("webdriver session");
    let b = Browser {
        client,
        driver: child,
        _profile: profile,
        _turn: turn,
    };
    b.viewport(width, height).await;
    Some(b)
}

/// Starts chromedriver on a port of the OS's choosing and reads that port from its banner.
fn start_driver(driver: &std::path::Path) -> Result<(Child, String), String> {
    let mut child = Command::new(driver)
        .arg("--port=0")
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut said = Vec::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                let _ = tx.send(Ok(rest.trim_end_matches('.').to_string()));
                return;
            }
            said.push(line);
        }
        let _ = tx.send(Err(said.join(" / ")));
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(Ok(port)) => Ok((child, port)),
        Ok(Err(said)) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("exited saying: {said}"))
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("no port within the deadline: {e}"))
        }
    }
}

impl Browser {
    /// Sizes the window so the page's viewport is `width`×`height` CSS pixels.
    pub async fn viewport(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("window size");
        let inner = self
            .js("return [window.innerWidth, window.innerHeight]")
            .await;
        let (iw, ih) = (
            inner[0].as_u64().unwrap_or(0) as u32,
            inner[1].as_u64().unwrap_or(0) as u32,
        );
        if (iw, ih) != (width, height) && iw > 0 && ih > 0 {
            self.client
                .set_window_size(
                    width + (width - iw.min(width)),
                    height + (height - ih.min(height)),
                )
                .await
                .expect("window size");
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("goto");
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `expr` (a JavaScript expression) is truthy, with a deadline.
    pub async fn until(&self, what: &str, expr: &str) {
        let end = tokio::time::Instant::now() + DEADLINE;
        let script = format!("try {{ return !!({expr}); }} catch (e) {{ return false; }}");
        loop {
            if let Ok(Value::Bool(true)) = self.client.execute(&script, Vec::new()).await {
                return;
            }
            if tokio::time::Instant::now() > end {
                let url = self.client.current_url().await.map(|u| u.to_string());
                let text = self
                    .js("return document.body ? document.body.innerText : ''")
                    .await;
                panic!("timed out waiting: {what}\n  at {url:?}\n  page text: {text}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The element with `data-testid`.
    pub async fn testid(&self, id: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(&format!("[data-testid=\"{id}\"]")))
            .await
            .unwrap_or_else(|e| panic!("no [data-testid={id}]: {e}"))
    }

    pub async fn text(&self, id: &str) -> String {
        self.testid(id).await.text().await.expect("text")
    }

    /// Types into a field as a keyboard-wedge scanner would: the characters, then Enter.
    pub async fn scan(&self, id: &str, data: &str) {
        let f = self.testid(id).await;
        f.send_keys(&format!("{data}\u{E007}")).await.expect("type");
    }

    pub async fn type_in(&self, id: &str, text: &str) {
        let f = self.testid(id).await;
        f.clear().await.expect("clear");
        f.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, id: &str) {
        self.testid(id).await.click().await.expect("click");
    }

    pub async fn css_click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// Logs in through the login page and waits for the page it leads to.
    pub async fn login(&self, base: &str, next: &str, badge: &str, pin: &str) {
        self.goto(&format!("{base}/ui/login?next={next}")).await;
        self.type_in("login-badge", badge).await;
        self.type_in("login-pin", pin).await;
        self.click("login-submit").await;
        let path = next.split('?').next().unwrap_or(next);
        self.until(
            &format!("the page after login ({next})"),
            &format!("location.pathname === '{path}' && document.body.dataset.page !== 'login'"),
        )
        .await;
    }

    /// Saves a screenshot as `<name>.png` in `$WMS_UI_SCREENSHOTS` (the README's pictures),
    /// when that is set.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("WMS_UI_SCREENSHOTS") else {
            return;
        };
        // Nothing focused blinks, and nothing is half-drawn.
        self.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); return 1")
            .await;
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Everything the page loaded (the page, its assets, its fetches and event stream), as
    /// absolute URLs, and the bytes of the first load.
    pub async fn loaded(&self) -> (Vec<String>, u64) {
        let v = self
            .js(
                "const nav = performance.getEntriesByType('navigation')[0];
                 const res = performance.getEntriesByType('resource');
                 const first = res.filter(r => r.initiatorType === 'link' || r.initiatorType === 'script');
                 const bytes = (nav ? nav.encodedBodySize : 0) + first.reduce((a, r) => a + r.encodedBodySize, 0);
                 return [[location.href].concat(res.map(r => r.name)), bytes];",
            )
            .await;
        let urls = v[0]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_string))
            .collect();
        (urls, v[1].as_u64().unwrap_or(u64::MAX))
    }

    /// Whether the page is wider than the window (a horizontal scroll bar).
    pub async fn overflows(&self) -> bool {
        self.js("return document.documentElement.scrollWidth > window.innerWidth")
            .await
            .as_bool()
            .unwrap_or(true)
    }
}
