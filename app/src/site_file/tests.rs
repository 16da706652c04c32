use super::*;

const GOOD: &str = r#"
[site]
name = "high-street"
store = "counts.sqlite"

[mqtt]
url = "mqtt://127.0.0.1:1883"

[options]
inference-interval = 2

[[camera]]
name = "door/1"
source = "door1.mp4"

[[camera]]
name = "till"
source = "rtsp://10.0.0.7/stream"
transport = "udp"
[camera.options]
inference-interval = 4
"detector::inference-width" = 640
"#;

fn probe() -> gst::Element {
    // Once per process: registering the plugin from two test threads at once races.
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| crate::init().unwrap());
    gst::ElementFactory::make("footfallbin").build().unwrap()
}

#[test]
fn a_site_file_reads_with_defaults_and_paths_beside_it() {
    let mut site = SiteFile::parse(GOOD).unwrap();
    site.resolve_paths(Path::new("/etc/footfall"));
    assert_eq!(
        site.store(),
        StoreChoice::At("/etc/footfall/counts.sqlite".into())
    );
    assert_eq!(site.cameras[0].source, "/etc/footfall/door1.mp4");
    assert_eq!(site.cameras[1].source, "rtsp://10.0.0.7/stream");
    assert_eq!(site.cameras[0].stall_timeout_s, 10);
    assert_eq!(
        site.mqtt_topic("door/1").as_deref(),
        Some("footfall/high-street/door_1")
    );
}

#[test]
fn camera_options_merge_over_site_options_and_are_checked() {
    let site = SiteFile::parse(GOOD).unwrap();
    let props = site.camera_properties(&probe()).unwrap();
    assert_eq!(props[0].0, vec![("inference-interval".into(), "2".into())]);
    assert_eq!(
        props[1].0,
        vec![
            ("detector::inference-width".into(), "640".into()),
            ("inference-interval".into(), "4".into()),
        ]
    );
    let bin = probe();
    props[1].apply(&bin).unwrap();
    assert_eq!(bin.property::<u32>("inference-interval"), 4);
}

fn options_error(options: &str) -> String {
    let text = format!(
        "[site]\nname = \"s\"\n[[camera]]\nname = \"c\"\nsource = \"a.mp4\"\n[camera.options]\n{options}\n"
    );
    let site = SiteFile::parse(&text).unwrap();
    site.camera_properties(&probe()).unwrap_err()
}

#[test]
fn a_wrong_option_is_an_error_naming_it() {
    let e = options_error("min-quality = 3.0");
    assert!(
        e.contains("min-quality = 3.0") && e.contains("from 0 to 1"),
        "{e}"
    );
    let e = options_error("inference-interval = \"3x\"");
    assert!(
        e.contains("'3x' is not a value 'inference-interval' takes"),
        "{e}"
    );
    let e = options_error("no-such-thing = 1");
    assert!(
        e.contains("'no-such-thing' is not a footfallbin property"),
        "{e}"
    );
    let e = options_error("gallery = \"other\"");
    assert!(e.contains("'gallery' is set by [site] name"), "{e}");
    let e = options_error("\"counter::mqtt-qos\" = 1");
    assert!(e.contains("MQTT is set in [mqtt]"), "{e}");
}

#[test]
fn a_misspelt_key_or_a_bad_camera_is_an_error_naming_it() {
    let e = SiteFile::parse(
        "[site]\nname = \"s\"\n[[camera]]\nname = \"c\"\nsource = \"a\"\ntrasport = \"tcp\"\n",
    )
    .unwrap_err();
    assert!(
        e.contains("unknown field `trasport`") && e.contains("line 6"),
        "{e}"
    );
    let e = SiteFile::parse("[site]\nname = \"s\"\n").unwrap_err();
    assert!(e.contains("no [[camera]]"), "{e}");
    let two = "[site]\nname = \"s\"\n[[camera]]\nname = \"c\"\nsource = \"a\"\n[[camera]]\nname = \"c\"\nsource = \"b\"\n";
    assert!(SiteFile::parse(two)
        .unwrap_err()
        .contains("two cameras are named 'c'"));
    let udp =
        "[site]\nname = \"s\"\n[[camera]]\nname = \"c\"\nsource = \"a\"\ntransport = \"http\"\n";
    assert!(SiteFile::parse(udp)
        .unwrap_err()
        .contains("transport = 'http'"));
}
