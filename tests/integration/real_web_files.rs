//! The files a careful user finds after a crawl of the real web (issue 30, items 12 and 13),
//! through the real binary: a mirror where two URLs never share a file and no symlink inside it
//! is followed; `user`/`password` from a config file; a User-Agent with a line break refused
//! before anything is written; an export's temporary file that is its own and gone after a
//! failure or SIGTERM; `export | head` quiet; a cut body segment named, and skippable.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use politecrawl::serve::Reply;

use crate::support::*;

/// The text a page of the marked site carries: its request target, inside `<p id=t>`.
fn marker(html: &str) -> Option<&str> {
    let start = html.find("<p id=t>")? + "<p id=t>".len();
    Some(&html[start..start + html[start..].find("</p>")?])
}

/// A site whose pages say which request target they answered.
fn marked_site(links: &'static [&'static str]) -> politecrawl::serve::SiteServer {
    route_server(Arc::new(move |r| match r.path() {
        "/" => Some(Reply::html(
            links
                .iter()
                .map(|l| format!(r#"<a href="{l}">{l}</a>"#))
                .collect::<String>(),
        )),
        "/robots.txt" => None,
        "/wiki/Main" => Some(Reply::html(
            r#"<p id=t>/wiki/Main</p><a href="/wiki/Help:Contents">help</a>"#,
        )),
        _ => Some(Reply::html(format!("<p id=t>{}</p>", r.target))),
    }))
}

fn host_dir(server: &politecrawl::serve::SiteServer) -> String {
    server
        .origin()
        .trim_start_matches("http://")
        .replace(':', "+")
}

#[test]
fn a_mirror_gives_two_urls_two_files_and_counts_what_it_wrote() {
    let _timing = shared();
    const LINKS: &[&str] = &[
        "/p?q=1",
        "/p@q=1",
        "/x%2Fy",
        "/x_y",
        "/same",
        "/same.html",
        "/dir/",
        "/dir/index.html",
        "/%ff",
        "/%fe",
        "/wiki/Main",
        "/wiki/Help:Contents",
    ];
    let server = marked_site(LINKS);
    let dir = tempdir();
    let d = dir.path();
    let (_, store) = crawl(&fast_config(
        &d.join("m.db"),
        &format!("{}/", server.origin()),
    ));
    let pages = store
        .pages()
        .filter(|p| p.as_ref().unwrap().status == Some(200))
        .count();
    assert_eq!(pages, LINKS.len() + 1, "every page stored");
    drop(store);

    let out = run(
        &[
            "export", "--db", "m.db", "--format", "mirror", "--out", "mirror",
        ],
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let files = files_under(&d.join("mirror"));
    assert_eq!(files.len(), pages, "one file per page: {files:#?}");
    let said = format!("mirrored {pages} files into mirror");
    assert!(stderr(&out).contains(&said), "{said:?} in {}", stderr(&out));
    assert!(
        stderr(&out).contains("5 under a name with a hash"),
        "{}",
        stderr(&out)
    );

    // Each page's own body is in exactly one file.
    let mut by_target = BTreeMap::new();
    for f in &files {
        let html = std::fs::read_to_string(f).unwrap();
        if let Some(t) = marker(&html) {
            let before = by_target.insert(t.to_ascii_lowercase(), f.clone());
            assert!(before.is_none(), "{t} written twice");
        }
    }
    assert_eq!(by_target.len(), LINKS.len(), "{by_target:#?}");

    // Every link of the home page leads to the file of the page it names.
    let site = d.join("mirror").join(host_dir(&server));
    let home = std::fs::read_to_string(site.join("index.html")).unwrap();
    let doc = scraper::Html::parse_document(&home);
    for a in doc.select(&scraper::Selector::parse("a").unwrap()) {
        let href = a.value().attr("href").unwrap();
        let text = a.text().collect::<String>();
        assert!(!href.starts_with("http"), "{text} is local: {href}");
        let path = percent_encoding::percent_decode_str(href).decode_utf8_lossy();
        let body = std::fs::read_to_string(site.join(&*path))
            .unwrap_or_else(|e| panic!("{text} → {href}: {e}"));
        assert!(
            marker(&body).is_some_and(|t| t.eq_ignore_ascii_case(&text)),
            "{text} → {href} holds {body}"
        );
    }
    // A colon in a path is rewritten too, behind `./` so it does not read as a scheme.
    let main = std::fs::read_to_string(site.join("wiki/Main.html")).unwrap();
    assert!(main.contains(r#"href="./Help:Contents.html""#), "{main}");
    assert!(site.join("wiki/Help:Contents.html").is_file());
}

#[test]
fn a_mirror_never_writes_through_a_symlink_inside_its_directory() {
    let _timing = shared();
    const LINKS: &[&str] = &["/wiki/Main", "/a.html"];
    let server = marked_site(LINKS);
    let dir = tempdir();
    let d = dir.path();
    crawl(&fast_config(
        &d.join("m.db"),
        &format!("{}/", server.origin()),
    ));
    let outside = d.join("outside");
    std::fs::create_dir_all(outside.join("dir")).unwrap();
    std::fs::write(outside.join("victim.html"), "mine").unwrap();
    let site = d.join("mirror").join(host_dir(&server));
    std::fs::create_dir_all(&site).unwrap();
    std::os::unix::fs::symlink(outside.join("victim.html"), site.join("a.html")).unwrap();
    std::os::unix::fs::symlink(outside.join("dir"), site.join("wiki")).unwrap();

    let out = run(
        &[
            "export", "--db", "m.db", "--format", "mirror", "--out", "mirror",
        ],
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(outside.join("victim.html")).unwrap(),
        "mine"
    );
    assert_eq!(std::fs::read_dir(outside.join("dir")).unwrap().count(), 0);
    assert!(site.join("index.html").is_file(), "the rest is written");
    let err = stderr(&out);
    assert!(err.contains("mirrored 1 files"), "{err}");
    assert!(
        err.contains("3 URLs not written: a symlink inside mirror stands in their path"),
        "{err}"
    );
}

#[test]
fn user_and_password_work_from_a_config_file_alone_or_with_the_command_line() {
    let _timing = shared();
    let want = "Basic dTpzM2NyZXQ="; // u:s3cret
    let server = route_server(Arc::new(move |r| {
        let auth = r.headers.iter().find(|(n, _)| n == "authorization");
        match (r.path(), auth) {
            ("/robots.txt", _) => None,
            (_, Some((_, v))) if v == want => Some(Reply::html("<p>in</p>")),
            _ => Some(Reply::new(401, "text/plain", "who?").header("WWW-Authenticate", "Basic")),
        }
    }));
    let dir = tempdir();
    let d = dir.path();
    let seed = format!("{}/", server.origin());
    // The crawl runs and its one page was let in.
    let logged_in = |args: &[&str], db: &str| {
        let out = run(&[args, &["--db", db]].concat(), d);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = run(&["export", "--db", db, "--format", "csv"], d);
        let csv = String::from_utf8(out.stdout).unwrap();
        assert!(csv.contains(",done,200,"), "{csv}");
    };
    std::fs::write(
        d.join("both.toml"),
        format!("seeds = [\"{seed}\"]\nuser = \"u\"\npassword = \"s3cret\"\n"),
    )
    .unwrap();
    logged_in(&["crawl", "--config", "both.toml"], "a.db");
    // One in the file, the other on the command line.
    std::fs::write(d.join("pass.toml"), "password = \"s3cret\"\n").unwrap();
    logged_in(
        &["crawl", &seed, "--config", "pass.toml", "--user", "u"],
        "b.db",
    );

    // One without the other is a usage error, and nothing is made.
    std::fs::write(d.join("user.toml"), "user = \"u\"\n").unwrap();
    let args = ["crawl", &seed, "--config", "user.toml", "--db", "c.db"];
    let out = run(&args, d);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--user and --password go together"),
        "{}",
        stderr(&out)
    );
    assert!(!d.join("c.db").exists());
}

#[test]
fn a_user_agent_with_a_line_break_is_refused_before_anything_is_written() {
    let _timing = shared();
    let server = route_server(Arc::new(|_| Some(Reply::html("<p>x</p>"))));
    let dir = tempdir();
    let d = dir.path();
    let seed = format!("{}/", server.origin());
    for ua in [
        "bot/1.0\r\nX-Injected: 1",
        "bot/1.0\nX-Injected: 1",
        "bot/1.0\x1b[31m",
    ] {
        let out = run(&["crawl", &seed, "--db", "x.db", "--user-agent", ua], d);
        assert_eq!(out.status.code(), Some(2), "{ua:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("User-Agent"), "{}", stderr(&out));
        std::fs::write(
            d.join("ua.toml"),
            format!("user-agent = {}\n", serde_json::to_string(ua).unwrap()),
        )
        .unwrap();
        let out = run(&["crawl", &seed, "--db", "x.db", "--config", "ua.toml"], d);
        assert_eq!(out.status.code(), Some(2), "{ua:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("ua.toml line 1: user-agent"),
            "{}",
            stderr(&out)
        );
    }
    let mut left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["ua.toml"], "no database made");
    assert!(server.requests().is_empty(), "no request sent");
}

/// A crawl of `pages` pages of `size` bytes each (hex digits that hardly compress), into
/// `dir/db`.
fn big_crawl(dir: &Path, pages: usize, size: usize) -> politecrawl::serve::SiteServer {
    let server = route_server(Arc::new(move |r| match r.path() {
        "/" => Some(Reply::html(
            (0..pages)
                .map(|i| format!(r#"<a href="/p{i}">p</a>"#))
                .collect::<String>(),
        )),
        "/robots.txt" => None,
        p => {
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ p.len() as u64;
            let body: String = (0..size)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    char::from_digit((x % 16) as u32, 16).unwrap()
                })
                .collect();
            Some(Reply::new(200, "text/plain", format!("{p} {body}")))
        }
    }));
    crawl(&fast_config(
        &dir.join("db"),
        &format!("{}/", server.origin()),
    ));
    server
}

fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".partial"))
        .collect()
}

#[test]
fn an_export_keeps_to_its_own_temporary_file_and_removes_it_on_sigterm() {
    let _timing = shared();
    let dir = tempdir();
    let d = dir.path();
    let _server = big_crawl(d, 40, 500_000);
    // A file named like the old temporary one is the user's, and stays.
    std::fs::write(d.join("pages.partial"), "mine").unwrap();
    let out = run(&["export", "--db", "db", "--out", "pages.jsonl"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(d.join("pages.partial")).unwrap(),
        "mine"
    );
    assert_eq!(partials(d), ["pages.partial"]);
    std::fs::remove_file(d.join("pages.jsonl")).unwrap();

    // Stopped while writing: caught with its temporary file there (SIGSTOP holds it), then
    // SIGTERM. The export may finish before it is seen; then it is tried again.
    for attempt in 0.. {
        assert!(attempt < 20, "never caught an export while it wrote");
        let mut child = Command::new(BIN)
            .args(["export", "--db", "db", "--out", "out.jsonl"])
            .current_dir(d)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as libc::pid_t;
        let caught = loop {
            let mine: Vec<_> = partials(d)
                .into_iter()
                .filter(|n| n.starts_with("out.jsonl."))
                .collect();
            if !mine.is_empty() {
                // SAFETY: a plain kill(2) of our own child.
                unsafe { libc::kill(pid, libc::SIGSTOP) };
                let still = partials(d).iter().any(|n| n.starts_with("out.jsonl."));
                break still && !d.join("out.jsonl").exists();
            }
            if child.try_wait().unwrap().is_some() {
                break false;
            }
        };
        if !caught {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
            child.wait().unwrap();
            let _ = std::fs::remove_file(d.join("out.jsonl"));
            continue;
        }
        // SAFETY: as above.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
            libc::kill(pid, libc::SIGCONT);
        }
        let status = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(
            status.code(),
            Some(128 + libc::SIGTERM),
            "{status:?}: {err}"
        );
        assert_eq!(
            partials(d),
            ["pages.partial"],
            "the unfinished file is gone: {err}"
        );
        assert!(!d.join("out.jsonl").exists());
        break;
    }
}

#[test]
fn export_into_a_closed_pipe_stops_quietly_as_cat_does() {
    let _timing = shared();
    let dir = tempdir();
    let d = dir.path();
    let _server = big_crawl(d, 8, 100_000);
    for format in ["jsonl", "warc"] {
        let mut child = Command::new(BIN)
            .args(["export", "--db", "db", "--format", format, "--out", "-"])
            .current_dir(d)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 10];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        // The reader has what it wanted and goes (stdout dropped above).
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{format}: {err}");
        assert!(
            !err.contains("error") && !err.contains("Broken pipe"),
            "{format}: {err}"
        );
    }
}

/// The stored page whose body ends last in its segment, and that segment's file.
fn last_body(db: &Path) -> (String, PathBuf, u64) {
    let store = politecrawl::Store::open(db, politecrawl::OpenMode::Existing).unwrap();
    let (url, r) = store
        .stored()
        .map(|p| p.unwrap())
        .filter_map(|p| p.body.map(|b| (p.record.url, b)))
        .max_by_key(|(_, b)| (b.segment, b.offset))
        .unwrap();
    let seg = db
        .join(politecrawl::store::bodies::DIR)
        .join(format!("{:08}.seg", r.segment));
    (url, seg, r.offset + r.len / 2)
}

#[test]
fn a_cut_body_segment_is_named_with_its_record_and_can_be_skipped() {
    let _timing = shared();
    let dir = tempdir();
    let d = dir.path();
    let _server = big_crawl(d, 4, 1000);
    let (url, seg, cut) = last_body(&d.join("db"));
    let whole = run(&["export", "--db", "db"], d);
    assert!(whole.status.success(), "{}", stderr(&whole));
    let records = String::from_utf8_lossy(&whole.stdout).lines().count();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(cut)
        .unwrap();

    let out = run(&["export", "--db", "db"], d);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("failed to fill whole buffer"), "{err}");
    let seg_name = seg.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        err.contains(&url) && err.contains(&seg_name),
        "{url} and {seg_name} in {err}"
    );
    assert!(err.contains("--skip-damaged"), "{err}");

    for format in ["jsonl", "warc"] {
        let out = run(
            &[
                "export",
                "--db",
                "db",
                "--format",
                format,
                "--out",
                "-",
                "--skip-damaged",
            ],
            d,
        );
        assert!(out.status.success(), "{format}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("skipped 1 record whose body is damaged"),
            "{err}"
        );
        assert!(err.contains(&url), "each one named: {err}");
        if format == "jsonl" {
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text.lines().count(), records - 1);
            assert!(!text.contains(&format!("\"url\":\"{url}\"")));
        }
    }
    let out = run(
        &[
            "export",
            "--db",
            "db",
            "--format",
            "mirror",
            "--out",
            "m",
            "--skip-damaged",
        ],
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("skipped 1 record"),
        "{}",
        stderr(&out)
    );
}
