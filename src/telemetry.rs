//! Tracing: one subscriber for the process, text or JSON, filtered by `RUST_LOG` or
//! `log.level`; and [`untrusted`], the one way a string the caller chose (a path, a
//! method, a client id, a grant type) goes into a log field.

use std::fmt;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use serde::Deserialize;

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},sqlx=warn", settings.level)));
    // Events go to stdout; colour codes only where a person reads them.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// For the one-shot admin commands: warnings and errors only (unless `RUST_LOG` says
/// otherwise), on stderr, so stdout holds nothing but the command's output (`--json`).
pub fn init_for_command() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The most characters of one untrusted value a log line carries.
pub const MAX_LOGGED_CHARS: usize = 128;

/// `text` for a log field: at most [`MAX_LOGGED_CHARS`] characters, then a note of how
/// much was left out; control characters, invisible formatting characters (which can
/// reorder or hide what a reader sees) and `\` are written as escapes, so no value can
/// forge a line or a colour.
pub fn untrusted(text: &str) -> Untrusted<'_> {
    Untrusted(text)
}

pub struct Untrusted<'a>(&'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Runs of plain characters are written whole: this is on the token path.
        let mut plain_from = 0;
        let mut chars = self.0.char_indices();
        for (at, c) in chars.by_ref().take(MAX_LOGGED_CHARS) {
            let escaped = c == '\\' || c.is_control() || is_invisible_format(c);
            if !escaped {
                continue;
            }
            f.write_str(&self.0[plain_from..at])?;
            plain_from = at + c.len_utf8();
            if c == '\\' {
                f.write_str("\\\\")?;
            } else {
                write!(f, "\\u{{{:x}}}", u32::from(c))?;
            }
        }
        match chars.next() {
            Some((cut, _)) => {
                f.write_str(&self.0[plain_from..cut])?;
                write!(f, "…(+{} bytes)", self.0.len() - cut)
            }
            None => f.write_str(&self.0[plain_from..]),
        }
    }
}

impl fmt::Debug for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Zero-width characters and bidirectional controls.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            untrusted("a\u{1b}[31mb\r\nc\\d\u{202e}e").to_string(),
            r"a\u{1b}[31mb\u{d}\u{a}c\\d\u{202e}e"
        );
        assert_eq!(untrusted("plain-id_1").to_string(), "plain-id_1");
    }

    #[test]
    fn long_values_are_cut_with_a_note() {
        let long = "é".repeat(10_000);
        let logged = untrusted(&long).to_string();
        assert!(logged.starts_with(&"é".repeat(MAX_LOGGED_CHARS)));
        assert!(logged.ends_with("…(+19744 bytes)"), "{logged}");
        let exact = "x".repeat(MAX_LOGGED_CHARS);
        assert_eq!(untrusted(&exact).to_string(), exact);
    }
}
