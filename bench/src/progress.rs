//! Progress on stderr for long runs: a redrawn bar on a terminal, one
//! line per step otherwise (logs, CI).

use std::io::{IsTerminal, Write};

/// A progress display over `total` steps.
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    tty: bool,
}

impl Progress {
    /// Starts one for `total` steps (an upper bound is fine).
    pub fn new(label: &str, total: usize) -> Progress {
        Progress {
            label: label.into(),
            total: total.max(1),
            done: 0,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// One step done; `msg` says what it measured.
    pub fn step(&mut self, msg: &str) {
        self.update(self.done + 1, msg);
    }

    /// Sets the steps done to `done` (for counts that move in jumps).
    pub fn update(&mut self, done: usize, msg: &str) {
        self.done = done;
        self.total = self.total.max(done);
        let line = render(&self.label, self.done, self.total, msg, self.tty);
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(line.as_bytes());
        let _ = e.flush();
    }

    /// Ends the bar (a newline on a terminal).
    pub fn finish(&mut self) {
        if self.tty && self.done > 0 {
            eprintln!();
        }
    }
}

/// The text of one update: `\r`-prefixed bar on a terminal, else a line.
pub fn render(label: &str, done: usize, total: usize, msg: &str, tty: bool) -> String {
    const W: usize = 20;
    if tty {
        let fill = (done * W / total.max(1)).min(W);
        format!(
            "\r{label} [{}{}] {done}/{total} {msg}\x1b[K",
            "#".repeat(fill),
            "-".repeat(W - fill)
        )
    } else {
        format!("{label} {done}/{total}: {msg}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn bar_and_lines() {
        assert_eq!(
            render("rfc2544", 5, 10, "ok", true),
            "\rrfc2544 [##########----------] 5/10 ok\x1b[K"
        );
        assert_eq!(render("sweep", 1, 4, "x", false), "sweep 1/4: x\n");
        assert!(render("a", 9, 3, "", true).contains("[####################]"));
    }
}
