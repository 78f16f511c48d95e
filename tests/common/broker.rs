//! A real mosquitto on a free loopback port, started by the test and killed when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Mosquitto {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

pub fn scratch_dir(tag: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("stromwart-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Mosquitto {
    pub fn start() -> Self {
        Self::start_with(None, free_port())
    }

    /// A broker on a port chosen before, e.g. one a bridge is already trying to reach.
    pub fn start_on(port: u16) -> Self {
        Self::start_with(None, port)
    }

    /// A broker that only accepts `user` with `password`.
    pub fn with_password(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password)), free_port())
    }

    /// A broker that keeps sessions and queued messages across a restart
    /// ([`Mosquitto::restart_gracefully`]), as one with `persistence true` does.
    pub fn persistent() -> Self {
        let mut m = Self::start_with(None, free_port());
        // Run as root, mosquitto drops to its own user: that user writes the database here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&m.dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let conf = m.dir.join("mosquitto.conf");
        let text = std::fs::read_to_string(&conf).unwrap().replace(
            "persistence false\n",
            &format!(
                "persistence true\npersistence_location {0}/\nlog_dest file {0}/mosquitto.log\nlog_type all\n",
                m.dir.display()
            ),
        );
        std::fs::write(&conf, text).unwrap();
        m.restart();
        m
    }

    /// Stops the broker as a service manager does (SIGTERM: it saves its state) and starts it
    /// again on the same port.
    pub fn restart_gracefully(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
        self.spawn();
    }

    fn start_with(auth: Option<(&str, &str)>, port: u16) -> Self {
        let dir = scratch_dir("mosquitto");
        let mut conf = format!("listener {port} 127.0.0.1\npersistence false\n");
        match auth {
            None => conf.push_str("allow_anonymous true\n"),
            Some((user, password)) => {
                let file = dir.join("passwd");
                let ok = Command::new("mosquitto_passwd")
                    .args(["-b", "-c"])
                    .arg(&file)
                    .args([user, password])
                    .status()
                    .expect("mosquitto_passwd is installed (Debian package mosquitto)");
                assert!(ok.success());
                conf.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    file.display()
                ));
            }
        }
        std::fs::write(dir.join("mosquitto.conf"), conf).expect("write config");
        let mut m = Self {
            port,
            dir,
            child: None,
        };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (apt-get install mosquitto)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops and starts the broker on the same port; retained messages are gone (no persistence).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("KEEP_BROKER").is_some() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
