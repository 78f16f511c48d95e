//! Files in the data directory that survive a crash: append-only JSON lines (the §14a proof
//! log), and files replaced whole (settings, energy totals, the price cache).
//!
//! Each record is one `write` of one line, so a kill -9 leaves whole records behind. A write
//! that fails part-way (a full disk) is cut off again, so the file never holds a torn record,
//! and the record waits in memory for the next try. Readers skip what does not parse.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

/// Records that could not be written wait for the next try; beyond this many the oldest go.
const MAX_PENDING: usize = 10_000;

pub struct Journal {
    path: PathBuf,
    pending: Vec<String>,
    failing: bool,
}

impl Journal {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            pending: Vec::new(),
            failing: false,
        }
    }

    /// Appends `records` (and any that waited), each a JSON object without a line break.
    pub fn append(&mut self, records: Vec<String>) {
        self.pending.extend(records);
        if self.pending.len() > MAX_PENDING {
            let drop = self.pending.len() - MAX_PENDING;
            self.pending.drain(..drop);
        }
        let mut written = 0;
        for record in &self.pending {
            if let Err(e) = write_record(&self.path, record) {
                if !self.failing {
                    tracing::error!(path = %self.path.display(), "Cannot write the §14a proof log: {e}. Records wait in memory and are written once it works again.");
                }
                self.failing = true;
                break;
            }
            written += 1;
        }
        self.pending.drain(..written);
        if written > 0 && self.pending.is_empty() && self.failing {
            self.failing = false;
            tracing::info!(path = %self.path.display(), "The §14a proof log is written again.");
        }
    }
}

fn write_record(path: &PathBuf, record: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let before = file.metadata()?.len();
    let line = format!("{record}\n");
    if let Err(e) = file.write_all(line.as_bytes()) {
        // No torn record: what part of it went in is cut off again.
        let _ = file.set_len(before);
        return Err(e);
    }
    Ok(())
}

/// The records of a journal that parse, in order, and how many lines did not (a record cut off
/// by a crash of the disk rather than of the bridge, or an edit by hand).
pub fn read(path: &PathBuf) -> std::io::Result<(Vec<serde_json::Value>, usize)> {
    let text = std::fs::read_to_string(path)?;
    let mut records = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) if v.is_object() => records.push(v),
            _ => bad += 1,
        }
    }
    Ok((records, bad))
}

/// Replaces `path` so that a crash or power cut at any moment leaves either the old or the new
/// content: write a temporary file, flush it to disk, rename it over the old one, flush the
/// directory.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stromwart-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn records_are_appended_and_read_back() {
        let path = scratch("a.jsonl");
        let mut j = Journal::new(path.clone());
        j.append(vec![r#"{"event":"start"}"#.into()]);
        j.append(vec![r#"{"event":"end"}"#.into()]);
        let (records, bad) = read(&path).unwrap();
        assert_eq!((records.len(), bad), (2, 0));
        assert_eq!(records[1]["event"], "end");
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_counted() {
        let path = scratch("b.jsonl");
        std::fs::write(&path, "{\"event\":\"start\"}\n{\"event\":\"set").unwrap();
        let (records, bad) = read(&path).unwrap();
        assert_eq!((records.len(), bad), (1, 1));
    }

    #[test]
    fn records_wait_while_the_file_cannot_be_written() {
        let path = scratch("missing-dir").join("c.jsonl");
        let mut j = Journal::new(path.clone());
        j.append(vec![r#"{"event":"start"}"#.into()]);
        assert_eq!(j.pending.len(), 1);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        j.append(vec![r#"{"event":"end"}"#.into()]);
        let (records, _) = read(&path).unwrap();
        assert_eq!(records.len(), 2, "the waiting record went first");
    }
}
