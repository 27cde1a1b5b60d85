//! The README against the real binary: every long flag `crawl --help` and `export --help` list
//! is documented in README.md as code (`` `--flag` `` or `` `--flag VALUE` ``), so a new flag
//! cannot ship without its line there.

use crate::support::*;

/// The subcommands whose flags the README documents (`crawl` in its flag table, `export` in
/// its filter and format paragraphs).
const DOCUMENTED: &[&str] = &["crawl", "export"];

/// Flags every subcommand has and the README need not repeat.
const GENERIC: &[&str] = &["help", "version"];

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

/// Whether `readme` shows `--flag` as code: a backtick, `--flag`, then a backtick or a space
/// (so `--timeout` is not found inside `` `--timeout-x` ``).
fn documented(readme: &str, flag: &str) -> bool {
    let code = format!("`--{flag}");
    readme
        .match_indices(&code)
        .any(|(at, _)| matches!(readme[at + code.len()..].chars().next(), Some('`' | ' ')))
}

/// `politecrawl <cmd> --help`'s flags that `readme` does not document, as `cmd --flag`.
fn undocumented(helps: &[(&str, Vec<String>)], readme: &str) -> Vec<String> {
    helps
        .iter()
        .flat_map(|(cmd, flags)| flags.iter().map(move |f| (cmd, f)))
        .filter(|(_, f)| !GENERIC.contains(&f.as_str()) && !documented(readme, f))
        .map(|(cmd, f)| format!("{cmd} --{f}"))
        .collect()
}

#[test]
fn every_crawl_and_export_flag_is_documented_in_the_readme() {
    let _timing = shared();
    let dir = tempdir();
    let readme_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("read README.md");
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
    let missing = undocumented(&helps, &readme);
    assert!(
        missing.is_empty(),
        "flags `--help` lists that {} never shows as `--flag` or `--flag VALUE`: {missing:?}",
        readme_path.display()
    );

    // The check can fail: a copy of the README without the --max-url-length row (its only
    // mention) lacks exactly that flag.
    let row = "| `--max-url-length N` |";
    assert_eq!(readme.matches("`--max-url-length").count(), 1);
    let without: String = readme
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
fn the_readme_and_lib_rs_draw_the_same_picture() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
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
    let altered = read("README.md").replacen("the only database writer", "the database writer", 1);
    assert_ne!(picture_after(&altered, "## How it works", ""), Some(lib));
}
