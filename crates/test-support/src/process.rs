//! The built server as a child process, as an operator runs it: started with a command the
//! test builds, its output followed line by line, stopped with SIGTERM or killed with SIGKILL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    pub port: u16,
}

impl Server {
    /// Start `command` and wait for its "listening on" line.
    pub fn start(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("server process");
        let (tx, lines) = channel();
        for stream in [
            Box::new(child.stdout.take().expect("server process")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("server process")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut server = Server {
            child,
            lines,
            seen: Vec::new(),
            port: 0,
        };
        let line = server.wait_for("listening on http://");
        let rest = line.split("http://").nth(1).expect("server process");
        let address: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || ".:".contains(*c))
            .collect();
        server.port = address
            .rsplit(':')
            .next()
            .expect("server process")
            .parse()
            .expect("server process");
        server
    }

    /// The next line that contains `needle` (30 s at most).
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?}; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// A plain HTTP/1.1 GET; the raw response.
    pub fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("server process");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .expect("server process");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("server process");
        response
    }

    /// SIGTERM, then the exit status and the rest of the output.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("server process");
        assert!(killed.success());
        let status = self.child.wait().expect("server process");
        self.seen.extend(self.lines.try_iter());
        // The reader threads may still be draining the pipes.
        std::thread::sleep(Duration::from_millis(50));
        self.seen.extend(self.lines.try_iter());
        (status, std::mem::take(&mut self.seen))
    }
}

impl Server {
    /// SIGKILL: no shutdown, no cleanup, as a crash or `kill -9` would.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
