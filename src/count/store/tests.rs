use super::*;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("footfall-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    for extra in ["", "-wal", "-shm"] {
        let mut n = p.as_os_str().to_os_string();
        n.push(extra);
        let _ = std::fs::remove_file(PathBuf::from(n));
    }
    p
}

fn added(kind: VisitKind) -> Counts {
    let mut c = Counts {
        visits: 1,
        ..Counts::default()
    };
    match kind {
        VisitKind::New => c.unique_visitors = 1,
        VisitKind::Returning => c.returning_visits = 1,
        VisitKind::Staff => {
            c.visits = 0;
            c.staff_visits = 1
        }
        VisitKind::Unidentified => {
            c.unique_visitors = 1;
            c.unidentified_visits = 1
        }
    }
    c
}

fn visit(
    camera: &str,
    number: u64,
    at_s: i64,
    kind: VisitKind,
    dwell_ms: Option<u64>,
) -> StoredVisit {
    StoredVisit {
        site: "shop".into(),
        camera: camera.into(),
        number,
        at_ms: at_s * 1000 + 250,
        kind,
        added: added(kind),
        dwell_ms,
    }
}

fn open(path: &Path) -> CountStore {
    let opened = CountStore::open(path, DEFAULT_RETENTION_DAYS).unwrap();
    assert!(opened.set_aside.is_none(), "{:?}", opened.set_aside);
    opened.store
}

/// A time in today's range for the default retention (the store purges older rows).
fn recent_minute() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    now - now % 60 - 3600
}

#[test]
fn visits_add_up_per_minute_and_a_restart_resumes() {
    let path = temp("resume.sqlite");
    let t = recent_minute();
    let store = open(&path);
    store
        .visit(visit("door", 1, t, VisitKind::New, Some(4000)))
        .unwrap();
    store
        .visit(visit("door", 2, t + 10, VisitKind::Returning, Some(2000)))
        .unwrap();
    store
        .visit(visit("door", 3, t + 70, VisitKind::Unidentified, None))
        .unwrap();
    store
        .visit(visit("till", 1, t + 20, VisitKind::Staff, Some(1000)))
        .unwrap();
    assert!(store.flush(Duration::from_secs(10)));
    assert!(store.finish().is_empty());

    let conn = Connection::open(&path).unwrap();
    let row: (i64, i64, i64, i64, i64) = conn
        .query_row(
            "SELECT unique_visitors, visits, returning_visits, dwell_ms_sum, dwell_count
             FROM minute_counts WHERE site = 'shop' AND camera = 'door' AND minute = ?1",
            [t],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(row, (1, 2, 1, 6000, 2));

    let store = open(&path);
    let door = store.resume("shop", "door", t - 60, t + 3600).unwrap();
    assert_eq!(door.next_visit, 4);
    assert_eq!(
        door.today,
        Counts {
            unique_visitors: 2,
            visits: 3,
            returning_visits: 1,
            staff_visits: 1,
            unidentified_visits: 1,
        },
        "every camera of the site"
    );
    let later_day = store.resume("shop", "door", t + 120, t + 3600).unwrap();
    assert_eq!(later_day.today, Counts::default());
    let before = store.resume("shop", "till", t - 60, t + 60).unwrap();
    assert_eq!((before.next_visit, before.today.visits), (2, 2));
    let other = store.resume("other", "door", t - 60, t + 3600).unwrap();
    assert_eq!(
        other,
        Resume {
            next_visit: 1,
            today: Counts::default()
        }
    );
}

#[test]
fn visits_are_committed_without_a_flush() {
    let path = temp("commit.sqlite");
    let store = open(&path);
    store
        .visit(visit("door", 1, recent_minute(), VisitKind::New, None))
        .unwrap();
    let conn = Connection::open(&path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = conn
            .query_row("SELECT count(*) FROM visits", [], |r| r.get(0))
            .unwrap();
        if n == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(store);
}

/// Writes a file that is not a usable store.
type MakeFile = dyn Fn(&Path);

#[test]
fn unusable_files_are_set_aside_and_a_new_store_started() {
    let cases: [(&str, &MakeFile); 3] = [
        ("garbage", &|p| std::fs::write(p, vec![0x5a; 8192]).unwrap()),
        ("newer", &|p| {
            let c = Connection::open(p).unwrap();
            c.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('schema', '99');").unwrap();
        }),
        ("foreign", &|p| {
            Connection::open(p)
                .unwrap()
                .execute_batch("CREATE TABLE customers (name TEXT);")
                .unwrap();
        }),
    ];
    for (name, make) in cases {
        let path = temp(&format!("{name}.sqlite"));
        make(&path);
        let kept = std::fs::read(&path).unwrap();
        let opened = CountStore::open(&path, DEFAULT_RETENTION_DAYS).unwrap();
        let text = opened.set_aside.expect(name);
        assert!(text.contains("kept as"), "{text}");
        let aside = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy().to_string();
                n.starts_with(&format!("{name}.sqlite.aside-"))
                    && !n.ends_with("-wal")
                    && !n.ends_with("-shm")
            })
            .expect("the old file is kept");
        assert_eq!(
            std::fs::read(&aside).unwrap(),
            kept,
            "{name}: kept unchanged"
        );
        opened
            .store
            .visit(visit("door", 1, recent_minute(), VisitKind::New, None))
            .unwrap();
        assert!(
            opened.store.flush(Duration::from_secs(10)),
            "{name}: the new store works"
        );
        let _ = std::fs::remove_file(aside);
    }
}

#[test]
fn an_unwritable_place_is_an_error() {
    let e = CountStore::open(Path::new("/proc/footfall-no/counts.sqlite"), 1)
        .err()
        .expect("cannot create there");
    assert!(e.contains("/proc/footfall-no"), "{e}");
}

#[test]
fn rows_past_the_retention_are_purged() {
    let path = temp("purge.sqlite");
    let store = open(&path);
    let old = recent_minute() - 3 * 86_400;
    store
        .visit(visit("door", 1, old, VisitKind::New, None))
        .unwrap();
    store
        .visit(visit("door", 2, recent_minute(), VisitKind::New, None))
        .unwrap();
    assert!(store.flush(Duration::from_secs(10)));
    drop(store);
    let reopened = CountStore::open(&path, 2).unwrap().store;
    drop(reopened);
    let conn = Connection::open(&path).unwrap();
    let visits: i64 = conn
        .query_row("SELECT count(*) FROM visits", [], |r| r.get(0))
        .unwrap();
    let minutes: i64 = conn
        .query_row("SELECT count(*) FROM minute_counts", [], |r| r.get(0))
        .unwrap();
    assert_eq!((visits, minutes), (1, 1));
}

#[test]
fn the_store_has_no_column_that_could_identify_anyone() {
    let path = temp("columns.sqlite");
    drop(open(&path));
    let conn = Connection::open(&path).unwrap();
    let mut columns = Vec::new();
    for table in ["meta", "minute_counts", "visits", "mqtt_outbox"] {
        let mut q = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .unwrap();
        let names: Vec<String> = q
            .query_map([], |r| r.get(1))
            .unwrap()
            .map(|n| n.unwrap())
            .collect();
        columns.push(format!("{table}: {}", names.join(" ")));
    }
    // A new column is a deliberate change to this list, and to the README's store section.
    assert_eq!(
        columns,
        [
            "meta: key value",
            "minute_counts: site camera minute unique_visitors visits returning_visits staff_visits unidentified_visits dwell_ms_sum dwell_count",
            "visits: site camera number at_ms kind dwell_ms",
            "mqtt_outbox: id base kind topic payload retain",
        ]
    );
}

#[test]
fn periods_group_minutes_hours_and_days() {
    use super::query::{csv_row, periods, Query, Resolution};
    let path = temp("query.sqlite");
    let store = open(&path);
    let hour = recent_minute() - recent_minute() % 3600 - 3 * 3600;
    store
        .visit(visit("door", 1, hour, VisitKind::New, Some(3000)))
        .unwrap();
    store
        .visit(visit(
            "door",
            2,
            hour + 120,
            VisitKind::Returning,
            Some(1000),
        ))
        .unwrap();
    store
        .visit(visit("door", 3, hour + 7200, VisitKind::New, None))
        .unwrap();
    store
        .visit(visit("till", 1, hour + 60, VisitKind::Staff, None))
        .unwrap();
    assert!(store.flush(Duration::from_secs(10)));
    let q = Query {
        from_s: hour,
        to_s: hour + 86_400,
        site: Some("shop".into()),
        camera: Some("door".into()),
    };
    let minutes = periods(&path, &q, Resolution::Minute).unwrap();
    assert_eq!(
        minutes.iter().map(|p| p.start_s).collect::<Vec<_>>(),
        [hour, hour + 120, hour + 7200]
    );
    let hours = periods(&path, &q, Resolution::Hour).unwrap();
    // Whole-hour time zones: the first hour holds two visits, two hours later one.
    assert_eq!(
        hours.iter().map(|p| p.counts.visits).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(hours[0].counts.unique_visitors, 1);
    assert_eq!(hours[0].mean_dwell_s, Some(2.0));
    assert_eq!(hours[1].mean_dwell_s, None);
    assert_eq!(hours[1].start_s - hours[0].start_s, 7200);
    let days = periods(&path, &q, Resolution::Day).unwrap();
    assert_eq!(days.iter().map(|p| p.counts.visits).sum::<u64>(), 3);
    let every_camera = Query {
        camera: None,
        ..q.clone()
    };
    let all = periods(&path, &every_camera, Resolution::Minute).unwrap();
    assert_eq!(
        all.iter().map(|p| p.camera.as_str()).collect::<Vec<_>>(),
        ["door", "till", "door", "door"]
    );
    assert_eq!(csv_row("t", &hours[0]), "t,shop,door,1,2,1,0,0,2.0");
    let backwards = Query {
        from_s: 10,
        to_s: 5,
        ..q
    };
    assert!(periods(&path, &backwards, Resolution::Hour).is_err());
    assert!(Resolution::parse("week")
        .unwrap_err()
        .contains("minute, hour or day"));
}
