//! The docs against the real binary and the tree, so they cannot drift from the code:
//! - every long flag `crawl --help` and `export --help` list is documented in docs/GUIDE.md as
//!   code (`` `--flag` `` or `` `--flag VALUE` ``), so a new flag cannot ship without its line;
//! - every file and folder under `src/` is in docs/ARCHITECTURE.md's module map, and every
//!   module `src/lib.rs` declares is named in its crate doc;
//! - the README, `src/lib.rs` and docs/ARCHITECTURE.md draw the same picture;
//! - neither the README nor the guide holds a dated measurement (those are docs/BENCHMARKS.md's).
//!
//! Each check also proves it can fail, on a copy of its input with one thing taken out.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::*;

/// The subcommands whose flags the guide documents (`crawl` in its flag table, `export` in
/// its filter and format paragraphs).
const DOCUMENTED: &[&str] = &["crawl", "export"];

/// Flags every subcommand has and the guide need not repeat.
const GENERIC: &[&str] = &["help", "version"];

/// A file of the repository, as text.
fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The long flags (without the dashes) that clap's `--help` text lists as options, in order.
/// An option line is indented at most 6 spaces (`  -h, --help`, `      --db <DIR>`); their
/// descriptions, possible values and examples are indented further or not at all.
fn listed_flags(help: &str) -> Vec<String> {
    help.lines()
        .filter(|line| {
            let text = line.trim_start();
            text.starts_with('-') && line.len() - text.len() <= 6
        })
        .filter_map(|line| line.split_whitespace().find_map(|w| w.strip_prefix("--")))
        .map(|w| {
            w.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect()
        })
        .collect()
}

/// Whether `doc` shows `--flag` as code: a backtick, `--flag`, then a backtick or a space
/// (so `--timeout` is not found inside `` `--timeout-x` ``).
fn documented(doc: &str, flag: &str) -> bool {
    let code = format!("`--{flag}");
    doc.match_indices(&code)
        .any(|(at, _)| matches!(doc[at + code.len()..].chars().next(), Some('`' | ' ')))
}

/// `politecrawl <cmd> --help`'s flags that `doc` does not document, as `cmd --flag`.
fn undocumented(helps: &[(&str, Vec<String>)], doc: &str) -> Vec<String> {
    helps
        .iter()
        .flat_map(|(cmd, flags)| flags.iter().map(move |f| (cmd, f)))
        .filter(|(_, f)| !GENERIC.contains(&f.as_str()) && !documented(doc, f))
        .map(|(cmd, f)| format!("{cmd} --{f}"))
        .collect()
}

#[test]
fn every_crawl_and_export_flag_is_documented_in_the_guide() {
    let _timing = shared();
    let dir = tempdir();
    let guide = read("docs/GUIDE.md");
    let helps: Vec<(&str, Vec<String>)> = DOCUMENTED
        .iter()
        .map(|&cmd| {
            let out = run(&[cmd, "--help"], dir.path());
            assert!(out.status.success(), "{cmd} --help: {}", stderr(&out));
            let flags = listed_flags(&String::from_utf8_lossy(&out.stdout));
            // Guards the parser: clap's layout changed if it finds neither of these.
            assert!(
                flags.iter().any(|f| f == "db") && flags.iter().any(|f| f == "help"),
                "{cmd} --help: no option lines found, only {flags:?}"
            );
            (cmd, flags)
        })
        .collect();
    let missing = undocumented(&helps, &guide);
    assert!(
        missing.is_empty(),
        "flags `--help` lists that docs/GUIDE.md never shows as `--flag` or `--flag VALUE`: \
         {missing:?}"
    );

    // The check can fail: a copy of the guide without the --max-url-length row (its only
    // mention) lacks exactly that flag.
    let row = "| `--max-url-length N` |";
    assert_eq!(guide.matches("`--max-url-length").count(), 1);
    let without: String = guide
        .lines()
        .filter(|line| !line.starts_with(row))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(undocumented(&helps, &without), ["crawl --max-url-length"]);
    // Only code counts, and only the whole flag.
    assert!(documented("| `--rate R` | and `--db`", "rate"));
    assert!(documented("| `--rate R` | and `--db`", "db"));
    assert!(!documented(
        "plain --rate, `--rate-limit`, `--rates`",
        "rate"
    ));
}

/// The part of a markdown `doc` under the heading line `heading`, up to the next `## ` heading.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no heading {heading:?}"))
        + 1;
    let body = &doc[start + heading.len()..];
    let end = body.find("\n## ").map_or(body.len(), |at| at + 1);
    &doc[start..start + heading.len() + end]
}

/// What `text` shows as inline code (between single backticks).
fn code_spans(text: &str) -> BTreeSet<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Every file and folder under `src` as the module map names them, relative to `src`: a folder
/// as `fetch/` (its `mod.rs` is the folder's own file), any other file as `fetch/dns.rs`.
fn source_entries(src: &Path) -> BTreeSet<String> {
    let mut entries = BTreeSet::new();
    for file in files_under(src) {
        let rel = file.strip_prefix(src).unwrap();
        if rel.extension().is_some_and(|e| e == "rs") && !rel.ends_with("mod.rs") {
            entries.insert(rel.to_string_lossy().into_owned());
        }
        for folder in rel
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
        {
            entries.insert(format!("{}/", folder.to_string_lossy()));
        }
    }
    entries
}

/// The `entries` that `map` never shows as code: a file as `fetch/dns.rs` or `fetch/dns`, a
/// folder as `fetch/` or `fetch`.
fn unmapped(entries: &BTreeSet<String>, map: &str) -> Vec<String> {
    let spans = code_spans(map);
    entries
        .iter()
        .filter(|e| {
            let bare = e
                .strip_suffix(".rs")
                .or(e.strip_suffix('/'))
                .unwrap_or(e.as_str());
            !spans.contains(e.as_str()) && !spans.contains(bare)
        })
        .cloned()
        .collect()
}

/// The modules a root file declares (`mod name;`, `pub mod name;`, `pub(crate) mod name;`).
fn declared_modules(root: &str) -> Vec<&str> {
    root.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("pub(crate) ").unwrap_or(line);
            let line = line.strip_prefix("pub ").unwrap_or(line);
            line.strip_prefix("mod ")?.strip_suffix(';')
        })
        .collect()
}

/// The `//!` lines of a file: its crate or module doc.
fn inner_doc(file: &str) -> String {
    file.lines()
        .filter_map(|l| l.trim_start().strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `modules` that `doc` never names as code (`` `name` `` or `` [`name`] ``).
fn unnamed<'a>(modules: &[&'a str], doc: &str) -> Vec<&'a str> {
    let spans = code_spans(doc);
    modules
        .iter()
        .copied()
        .filter(|m| !spans.contains(m))
        .collect()
}

#[test]
fn every_source_file_is_in_the_module_map_and_every_module_in_the_crate_doc() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let entries = source_entries(&src);
    // Guards the walk: it sees folders, their files, and the roots.
    for e in ["fetch/", "fetch/dns.rs", "lib.rs", "main.rs"] {
        assert!(entries.contains(e), "{e} not found under src/: {entries:?}");
    }
    let architecture = read("docs/ARCHITECTURE.md");
    let map = section(&architecture, "## Module map");
    let missing = unmapped(&entries, map);
    assert!(
        missing.is_empty(),
        "files and folders under src/ that docs/ARCHITECTURE.md's module map never names as \
         `path`: {missing:?}"
    );

    let lib = read("src/lib.rs");
    let modules = declared_modules(&lib);
    assert!(modules.contains(&"store") && modules.contains(&"engine"));
    let doc = inner_doc(&lib);
    let missing = unnamed(&modules, &doc);
    assert!(
        missing.is_empty(),
        "modules src/lib.rs declares that its crate doc never names as `module`: {missing:?}"
    );

    // The checks can fail: the map without the lines naming fetch/dns.rs or frontier/sled/seen/
    // lacks exactly that file or folder, and so does the map of a tree with one file more.
    for gone in ["fetch/dns.rs", "frontier/sled/seen/"] {
        let code = format!("`{gone}`");
        let without: String = map
            .lines()
            .filter(|l| !l.contains(&code))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(unmapped(&entries, &without), [gone]);
    }
    let mut more = entries.clone();
    more.insert("fetch/happy_eyeballs.rs".into());
    assert_eq!(unmapped(&more, map), ["fetch/happy_eyeballs.rs"]);
    // ... a crate doc without `replace_file` (its only mention) lacks exactly that module, and a
    // lib.rs with one module more lacks that one.
    assert_eq!(doc.matches("`replace_file`").count(), 1);
    let without = doc.replace("`replace_file`", "replace_file");
    assert_eq!(unnamed(&modules, &without), ["replace_file"]);
    let more = format!("{lib}\npub(crate) mod happy_eyeballs;\n");
    assert_eq!(unnamed(&declared_modules(&more), &doc), ["happy_eyeballs"]);
}

/// The first ```` ```text ```` block after `marker` in `doc`, each line with `strip` removed
/// from its start.
fn picture_after(doc: &str, marker: &str, strip: &str) -> Option<String> {
    let lines: Vec<&str> = doc
        .lines()
        .map(|l| l.strip_prefix(strip).unwrap_or(l))
        .collect();
    let from = lines.iter().position(|l| l.contains(marker))?;
    let start = from
        + lines[from..]
            .iter()
            .position(|l| l.trim_end() == "```text")?
        + 1;
    let len = lines[start..].iter().position(|l| l.trim_end() == "```")?;
    Some(lines[start..start + len].join("\n"))
}

#[test]
fn the_readme_architecture_and_lib_rs_draw_the_same_picture() {
    let lib = picture_after(&read("src/lib.rs"), "politecrawl:", "//! ").expect("lib.rs picture");
    for (doc, marker) in [
        ("README.md", "## How it works"),
        ("docs/ARCHITECTURE.md", "## The picture"),
    ] {
        let pic = picture_after(&read(doc), marker, "").unwrap_or_else(|| panic!("{doc}"));
        assert_eq!(
            pic, lib,
            "{doc} draws another picture than src/lib.rs; copy it over"
        );
    }
    // The check can fail: one changed word in the README's picture is noticed.
    let altered = read("README.md").replacen("writes the frontier and the records", "writes", 1);
    assert_ne!(picture_after(&altered, "## How it works", ""), Some(lib));
}

/// The lines of a markdown `doc` whose prose holds a date (`2026-12-07`): code blocks, inline
/// code (an example's timestamp) and link targets (a heading's anchor) aside.
fn dated_prose(doc: &str) -> Vec<String> {
    let mut fenced = false;
    let prose: String = doc
        .lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .map(|l| format!("{l}\n"))
        .collect();
    // Inline code may run over a line break, so it goes before the text is split into lines.
    let outside_code: String = prose.split('`').step_by(2).collect::<Vec<_>>().join(" ");
    let mut text = String::new();
    let mut rest = outside_code.as_str();
    while let Some(at) = rest.find("](") {
        text.push_str(&rest[..at + 1]);
        rest = rest[at..].find(')').map_or("", |end| &rest[at + end + 1..]);
    }
    text.push_str(rest);
    let date = regex::Regex::new(r"\b20\d\d-[01]\d-[0-3]\d").expect("a valid pattern");
    text.lines()
        .filter(|l| date.is_match(l))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_and_the_guide_hold_no_dated_measurement() {
    for doc in ["README.md", "docs/GUIDE.md"] {
        let dated = dated_prose(&read(doc));
        assert!(
            dated.is_empty(),
            "{doc} dates these lines; a dated measurement belongs in docs/BENCHMARKS.md, a \
             change in CHANGELOG.md: {dated:?}"
        );
    }
    // The check can fail: a dated line is found; a timestamp in code, even over a line break,
    // and a link to a dated heading are not.
    let doc = "Fast.\n`--since 2026-12-03T08:45:11Z`, `a\n2026-12-03` and \
               [5c](BENCHMARKS.md#5c-2026-12-03).\n```\n2026-12-03\n```\nMeasured 2026-12-07: 5 s.\n";
    assert_eq!(dated_prose(doc), ["Measured 2026-12-07: 5 s."]);
}
