//! `crawl --config FILE`: a TOML file of crawl flags, and `politecrawl config --db DIR`, which
//! prints a crawl's saved settings as such a file, so a crawl is repeatable from a file.
//!
//! A key is a flag's name without its dashes (`max-pages = 500`, `header = ["X-A: 1"]`,
//! `seeds = [...]` for the URLs); a value is what the flag takes, as a TOML string, number,
//! boolean or array of them. Why flags and not a schema of its own: the file becomes command-line
//! arguments, parsed by the very parser the command line goes through, so every setting, its
//! checks and its error messages are the same in both, and a setting added to the crawler is a
//! key of the file with no code here. A flag given on the command line wins over the file's key.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use toml::{Spanned, Value};

use crate::config::{CrawlConfig, FlagKind};
use crate::error::{Error, Result};

/// The key of the seed URLs (the `crawl` command's positional arguments).
pub const SEEDS: &str = "seeds";

/// Turns `file` into `crawl` arguments (`--max-pages=500`, ..., then the seeds), for the flags
/// of `command` (the `crawl` subcommand) that `given` does not report as given on the command
/// line. Unknown keys and values of the wrong shape are errors naming the key and line.
pub fn to_args(
    file: &Path,
    command: &clap::Command,
    given: impl Fn(&str) -> bool,
) -> Result<Vec<OsString>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Config(format!("--config {}: cannot read it: {e}", file.display())))?;
    let at = |span: std::ops::Range<usize>| {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        format!("{} line {line}", file.display())
    };
    let table: BTreeMap<String, Spanned<Value>> = toml::from_str(&text).map_err(|e| {
        let place = e.span().map_or_else(|| file.display().to_string(), &at);
        Error::Config(format!("{place}: {}", e.message().trim()))
    })?;
    // Built, so each argument knows how many values it takes.
    let mut command = command.clone();
    command.build();
    let command = &command;
    let mut args = Vec::new();
    let mut seeds = Vec::new();
    for (key, value) in &table {
        let place = at(value.span());
        let values = scalars(value.get_ref()).ok_or_else(|| {
            Error::Config(format!(
                "{place}: {key} must be a string, number, boolean or an array of them"
            ))
        })?;
        if key == SEEDS {
            if !given(SEEDS) {
                seeds = values;
            }
            continue;
        }
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()))
        else {
            let near = longs(command)
                .into_iter()
                .chain([SEEDS])
                .map(|l| (strsim::jaro_winkler(key, l), l))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let hint = near.map_or_else(
                || {
                    "keys are crawl flags without their dashes (`politecrawl crawl --help`), \
                    and seeds"
                        .to_string()
                },
                |(_, l)| format!("did you mean {l:?}?"),
            );
            return Err(Error::Config(format!(
                "{place}: unknown key {key:?}; {hint}"
            )));
        };
        if key == "config" {
            return Err(Error::Config(format!(
                "{place}: a config file cannot name another one"
            )));
        }
        if given(arg.get_id().as_str()) {
            continue;
        }
        let takes_value = arg.get_num_args().is_none_or(|n| n.takes_values());
        let mut these = Vec::new();
        for v in values {
            if takes_value {
                these.push(OsString::from(format!("--{key}={v}")));
            } else if v == "true" {
                these.push(OsString::from(format!("--{key}")));
            } else if v != "false" {
                return Err(Error::Config(format!(
                    "{place}: {key} is true or false, not {v:?}"
                )));
            }
        }
        // Each key through the flag's own parser now, so a bad value is named with its line.
        // Alone, a key that needs another (`user` needs `password`) always misses it: whether
        // the other is given is for the parse of the whole command line with the file.
        let probe = [OsString::from("crawl"), OsString::from("--db=.")]
            .into_iter()
            .chain(these.iter().cloned());
        let probed = command.clone().try_get_matches_from(probe);
        if let Err(e) = probed.or_else(|e| match e.kind() {
            clap::error::ErrorKind::MissingRequiredArgument => Ok(Default::default()),
            _ => Err(e),
        }) {
            // clap's message up to its usage notes, a value's line breaks shown escaped.
            let words = e.to_string();
            let first: String = words
                .split("\n\n")
                .next()
                .unwrap_or("")
                .trim()
                .trim_start_matches("error: ")
                .chars()
                .flat_map(|c| {
                    if c.is_control() {
                        c.escape_default().collect()
                    } else {
                        vec![c]
                    }
                })
                .collect();
            return Err(Error::Config(format!("{place}: {key}: {first}")));
        }
        args.extend(these);
    }
    if !seeds.is_empty() {
        args.push("--".into());
        args.extend(seeds.into_iter().map(OsString::from));
    }
    Ok(args)
}

/// A value as the strings its flag would be given (an array: one per element).
fn scalars(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Integer(i) => Some(vec![i.to_string()]),
        Value::Float(f) => Some(vec![f.to_string()]),
        Value::Boolean(b) => Some(vec![b.to_string()]),
        Value::Array(items) => items
            .iter()
            .map(|i| scalars(i).filter(|s| s.len() == 1).map(|mut s| s.remove(0)))
            .collect(),
        _ => None,
    }
}

fn longs(command: &clap::Command) -> Vec<&str> {
    command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| !["help", "version", "config", "db"].contains(l))
        .collect()
}

/// A crawl's settings as a config file: its seeds and every setting as the flag would set it
/// (paths absolute, durations as `30s`).
pub fn render(config: &CrawlConfig) -> String {
    let mut first = toml::Table::new();
    let seeds = config
        .seeds
        .iter()
        .map(|u| Value::String(u.to_string()))
        .collect();
    first.insert(SEEDS.into(), Value::Array(seeds));
    let mut table = toml::Table::new();
    for (long, values, kind) in config.as_flags() {
        let value = |v: &String| {
            if kind == FlagKind::Bool {
                Value::Boolean(v == "true")
            } else if let Ok(i) = v.parse::<i64>() {
                Value::Integer(i)
            } else if let Some(f) = v.parse::<f64>().ok().filter(|f| f.is_finite()) {
                Value::Float(f)
            } else {
                Value::String(v.clone())
            }
        };
        let v = match (kind, values.as_slice()) {
            (FlagKind::List, many) => Value::Array(many.iter().map(value).collect()),
            (_, [one]) => value(one),
            (_, many) => Value::Array(many.iter().map(value).collect()),
        };
        table.insert(long, v);
    }
    let header = "# politecrawl crawl settings: `politecrawl crawl --config FILE --db DIR`\n";
    let text = |t: &toml::Table| toml::to_string(t).unwrap_or_else(|e| format!("# {e}\n"));
    format!("{header}{}{}", text(&first), text(&table))
}
