//! Secrets from the server's side and in every file the crawl writes: credential `--header`s
//! sent with each request and after a resume, yet redacted in the settings, `status`, `config`,
//! the report, `live-settings.json`, warcinfo and WARC request records; the `--frontier`
//! password taken from `PGPASSWORD` or a password file, never needed on the command line; and
//! no password of a URL (frontier, seed, proxy, seeds file) shown in a message.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use politecrawl::serve::Reply;

use super::pg::Postgres;
use super::support::{
    assert_secrets_only_in_credentials, files_under, header, leak, route_server, run, shared,
    stderr, tempdir, BIN,
};

const COOKIE: &str = "sid=COOKIE-S3CRET";
const API_KEY: &str = "KEY-S3CRET";
const PROXY_AUTH: &str = "Basic UFJPWFktUzNDUkVU";
/// The parts of the three values a leak would show.
const LEAKS: [&str; 3] = ["COOKIE-S3CRET", "KEY-S3CRET", "UFJPWFktUzNDUkVU"];

/// Every gzip member of a WARC file, decompressed.
fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn credential_headers_are_sent_and_kept_for_a_resume_but_written_nowhere_else() {
    let _timing = shared();
    let dir = tempdir();
    let d = dir.path().to_path_buf();
    // What `live-settings.json` says while the crawl runs (read when `/p` is asked for).
    let live: Arc<Mutex<Option<String>>> = Arc::default();
    let (live_in, db_in) = (live.clone(), d.join("h.db"));
    let site = route_server(Arc::new(move |r| match r.path() {
        "/" => Some(Reply::html(r#"<a href="/p">p</a>"#)),
        "/p" => {
            let text = std::fs::read_to_string(db_in.join("live-settings.json"));
            *live_in.lock().unwrap() = Some(text.unwrap_or_else(|e| format!("unread: {e}")));
            Some(Reply::html("<p>p</p>"))
        }
        "/later" | "/again" | "/last" => Some(Reply::html("<p>more</p>")),
        _ => None,
    }));
    let a = site.origin();
    std::fs::create_dir(d.join("live")).unwrap();
    let seed = format!("{a}/");
    let live_prefix = d.join("live/w");
    let headers = [
        "X-Team: crawl".to_string(),
        format!("Cookie: {COOKIE}"),
        format!("X-Api-Key: {API_KEY}"),
        format!("Proxy-Authorization: {PROXY_AUTH}"),
    ];
    let mut args = vec!["crawl", &seed, "--db", "h.db", "--rate", "0"];
    let prefix = live_prefix.to_str().unwrap();
    args.extend(["--warc", prefix, "--report", "report.json"]);
    for h in &headers {
        args.extend(["--header", h]);
    }
    let out = run(&args, &d);
    let crawl_err = stderr(&out);
    assert!(out.status.success(), "{crawl_err}");

    // Sent as given, with every request.
    let requests = site.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path()).collect();
    assert_eq!(paths.len(), 3, "robots.txt, / and /p: {paths:?}");
    for r in &requests {
        assert_eq!(header(r, "cookie"), [COOKIE], "{r:?}");
        assert_eq!(header(r, "x-api-key"), [API_KEY], "{r:?}");
        assert_eq!(header(r, "proxy-authorization"), [PROXY_AUTH], "{r:?}");
        assert_eq!(header(r, "x-team"), ["crawl"], "{r:?}");
    }

    // Shown redacted, written nowhere.
    let status = run(&["status", "--db", "h.db", "--json"], &d);
    assert!(status.status.success(), "{}", stderr(&status));
    let config = run(&["config", "--db", "h.db"], &d);
    assert!(config.status.success(), "{}", stderr(&config));
    let export = run(
        &[
            "export",
            "--db",
            "h.db",
            "--format",
            "warc",
            "--out",
            "a.warc.gz",
        ],
        &d,
    );
    assert!(export.status.success(), "{}", stderr(&export));
    let warc = gunzip(&d.join("a.warc.gz"));
    let live_warcs: Vec<_> = files_under(&d.join("live"));
    assert_eq!(live_warcs.len(), 1, "{live_warcs:?}");
    let live_warc = gunzip(&live_warcs[0]);
    let jsonl = run(&["export", "--db", "h.db"], &d).stdout;
    let csv = run(&["export", "--db", "h.db", "--format", "csv"], &d).stdout;
    let live_settings = live.lock().unwrap().clone().expect("/p was fetched");
    let report = std::fs::read(d.join("report.json")).unwrap();
    let shown: [(&str, Vec<u8>); 6] = [
        ("status --json", status.stdout.clone()),
        ("config", config.stdout.clone()),
        ("the report", report.clone()),
        ("live-settings.json", live_settings.clone().into_bytes()),
        ("the exported WARC", warc.clone()),
        ("the live WARC", live_warc.clone()),
    ];
    for (what, bytes) in &shown {
        let text = String::from_utf8_lossy(bytes);
        assert!(text.contains("X-Api-Key: <redacted>"), "{what}: {text}");
        assert!(text.contains("Cookie: <redacted>"), "{what}: {text}");
        assert!(
            text.contains("X-Team: crawl"),
            "{what} shows what is no secret"
        );
    }
    // The WARC request records too, not only the warcinfo.
    let text = String::from_utf8_lossy(&warc);
    let request = text
        .split("WARC/1.1")
        .find(|r| r.contains("WARC-Type: request"))
        .unwrap();
    assert!(request.contains("X-Api-Key: <redacted>"), "{request}");
    let others = [
        ("crawl stderr", crawl_err.into_bytes()),
        ("JSON Lines", jsonl),
        ("CSV", csv),
    ];
    for (what, bytes) in shown.iter().chain(&others) {
        assert_eq!(leak(bytes, &LEAKS), None, "{what} holds a secret");
    }
    let db = d.join("h.db");
    assert_secrets_only_in_credentials(&db, &LEAKS);

    // A resume with no --header sends them all, from the credentials file.
    let later = format!("{a}/later");
    let out = run(&["crawl", &later, "--db", "h.db", "--rate", "0"], &d);
    assert!(out.status.success(), "{}", stderr(&out));
    let last = site.requests().pop().unwrap();
    assert_eq!(last.path(), "/later");
    assert_eq!(header(&last, "cookie"), [COOKIE]);
    assert_eq!(header(&last, "x-api-key"), [API_KEY]);
    assert_eq!(header(&last, "proxy-authorization"), [PROXY_AUTH]);

    // `config`'s output given back as --config: its `<redacted>` values are the saved ones for
    // this crawl, and refused, asking for the value, for another.
    std::fs::write(d.join("crawl.toml"), &config.stdout).unwrap();
    let again = format!("{a}/again");
    let with_file = ["crawl", &again, "--config", "crawl.toml", "--rate", "0"];
    let out = run(&[&with_file[..], &["--db", "h.db"]].concat(), &d);
    assert!(out.status.success(), "{}", stderr(&out));
    let last = site.requests().pop().unwrap();
    assert_eq!(last.path(), "/again");
    assert_eq!(header(&last, "x-api-key"), [API_KEY]);
    let out = run(&[&with_file[..], &["--db", "other.db"]].concat(), &d);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("give --header 'cookie: VALUE' again"), "{err}");
    assert!(!d.join("other.db").exists());

    // Headers given again replace the list: a credential no longer given is neither sent nor
    // kept.
    let next = format!("{a}/last");
    let args = [
        "crawl",
        &next,
        "--db",
        "h.db",
        "--rate",
        "0",
        "--header",
        "X-Team: b",
    ];
    let out = run(&args, &d);
    assert!(out.status.success(), "{}", stderr(&out));
    let last = site.requests().pop().unwrap();
    assert_eq!(last.path(), "/last");
    assert!(header(&last, "x-api-key").is_empty(), "{last:?}");
    assert_eq!(header(&last, "x-team"), ["b"]);
    let kept = std::fs::read(db.join("credentials")).unwrap();
    assert_eq!(
        leak(&kept, &LEAKS),
        None,
        "the credentials file let them go"
    );
}

/// Runs the binary with no PostgreSQL password in its environment but `env`, and `HOME` in
/// `home` (so the machine's own ~/.pgpass plays no part).
fn run_pg(args: &[&str], cwd: &Path, home: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(cwd)
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .env("HOME", home);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[cfg(unix)]
fn write_mode(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
#[test]
fn a_frontier_password_comes_from_pgpassword_or_a_password_file_and_is_never_shown() {
    const PW: &str = "PG-S3CRET";
    let _timing = shared();
    let pg = Postgres::start();
    let url = pg.add_login("crawler", PW, "secretdb");
    let site = route_server(Arc::new(|r| {
        (r.path() == "/").then(|| Reply::html("<p>shared</p>"))
    }));
    let dir = tempdir();
    let d = dir.path();
    let home = d.join("home");
    std::fs::create_dir(&home).unwrap();
    let status = ["status", "--frontier", &url, "--crawl", "c"];

    // No password anywhere: the server refuses.
    let out = run_pg(&status, d, &home, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("PGPASSWORD"), "{}", stderr(&out));

    // PGPASSWORD: a whole shared crawl.
    let seed = format!("{}/", site.origin());
    let crawl = [
        "crawl",
        &seed,
        "--frontier",
        &url,
        "--crawl",
        "c",
        "--db",
        "w.db",
        "--shards",
        "1",
        "--rate",
        "0",
        "--no-progress",
    ];
    let out = run_pg(&crawl, d, &home, &[("PGPASSWORD", PW)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let paths: Vec<String> = site
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert!(paths.contains(&"/".to_string()), "{paths:?}");

    // The password file: PGPASSFILE, else ~/.pgpass; a line for the socket directory, or
    // wildcards; ignored (as libpq ignores it) when others may read it.
    let line = format!("{}:5432:secretdb:crawler:{PW}\n", pg.socket_dir().display());
    let status_with = |file: &Path, text: &str, mode: u32, env: &[(&str, &str)]| {
        write_mode(file, text, mode);
        run_pg(&status, d, &home, env)
    };
    let passfile = d.join("pgpass");
    let env = [("PGPASSFILE", passfile.to_str().unwrap())];
    let text = format!("# ours\n*:*:crawls:*:wrong\n{line}");
    let out = status_with(&passfile, &text, 0o600, &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let (dot, wild) = (home.join(".pgpass"), format!("*:*:secretdb:crawler:{PW}\n"));
    let out = status_with(&dot, &wild, 0o600, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = status_with(&dot, &wild, 0o644, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("group or world access"), "{err}");

    // A password in the URL works, is warned about, and is never shown: not in an error, not
    // in the command a message suggests.
    let host = pg.socket_dir().display().to_string();
    let in_query = format!("postgres://crawler@/secretdb?host={host}&password={PW}");
    let in_userinfo = format!("postgres://crawler:{PW}@/secretdb?host={host}");
    for typed in [&in_query, &in_userinfo] {
        let out = run_pg(
            &["status", "--frontier", typed, "--crawl", "c"],
            d,
            &home,
            &[],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("PGPASSWORD"), "{}", stderr(&out));
        let args = ["status", "--frontier", typed, "--crawl", "nosuch"];
        let out = run_pg(&args, d, &home, &[]);
        let err = stderr(&out);
        assert!(err.contains("no crawl named \"nosuch\""), "{err}");
        assert!(err.contains("--frontier postgres://crawler"), "{err}");
        assert!(err.contains("***"), "{err}");
        assert!(!err.contains(PW), "{err}");
        let bad = format!("{typed}&nosuchoption=1");
        let out = run_pg(
            &["status", "--frontier", &bad, "--crawl", "c"],
            d,
            &home,
            &[],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(!err.contains(PW), "{err}");
    }
    // What the crawl wrote holds no password.
    for file in files_under(&d.join("w.db")) {
        let found = leak(&std::fs::read(&file).unwrap(), &[PW]);
        assert_eq!(found, None, "{} holds the password", file.display());
    }
    // Credentials with --frontier: see cluster_setup.rs.
}

#[test]
fn passwords_in_a_bad_seed_proxy_or_seeds_file_are_masked() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(
        d.join("seeds.txt"),
        "http://ok.test/\nhttp://al:SEED-S3CRET@[::1/\nftp://al:SEED-S3CRET@ftp.test/\n",
    )
    .unwrap();
    let cases: [&[&str]; 4] = [
        &[
            "crawl",
            "http://al:SEED-S3CRET@a.test:99999/",
            "--db",
            "x.db",
        ],
        &[
            "crawl",
            "http://a.test/",
            "--db",
            "x.db",
            "--proxy",
            "ftp://pu:SEED-S3CRET@proxy:21",
        ],
        &[
            "crawl",
            "http://a.test/",
            "--db",
            "x.db",
            "--proxy",
            "pu:SEED-S3CRET@proxy:3128",
        ],
        &[
            "crawl",
            "--seeds-file",
            "seeds.txt",
            "--strict",
            "--db",
            "x.db",
        ],
    ];
    for args in cases {
        let out = run(args, d);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(":***@"), "{args:?}: {err}");
        assert!(!err.contains("SEED-S3CRET"), "{args:?}: {err}");
        assert!(!d.join("x.db").exists(), "{args:?}: nothing made");
    }
}
