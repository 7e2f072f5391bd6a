use super::*;

fn spec(name: &str, tag: &str) -> String {
    format!(
        "name = \"{name}\"\ntag = \"{tag}\"\n[source]\npath = \"app\"\n[build]\nrun-image = \"oci:/base:latest\"\n"
    )
}

#[test]
fn apply_validates_everything_first_then_writes_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let store = SpecStore::new(tmp.path().join("specs"), None);
    let good = tmp.path().join("a.toml");
    std::fs::write(&good, spec("web", "oci:/out:web")).unwrap();
    let bad = tmp.path().join("b.toml");
    std::fs::write(&bad, "tag = 1").unwrap();
    let err = store.apply(&[good.clone(), bad]).unwrap_err().to_string();
    assert!(err.contains("b.toml"), "{err}");
    assert!(
        store.files().unwrap().is_empty(),
        "nothing is written when a file is bad"
    );

    let applied = store.apply(std::slice::from_ref(&good)).unwrap();
    assert_eq!(applied[0].name, "web");
    assert!(applied[0].changed);
    assert_eq!(applied[0].file, tmp.path().join("specs/web.toml"));
    assert!(!store.apply(std::slice::from_ref(&good)).unwrap()[0].changed);
    assert_eq!(store.select(&[]).unwrap().len(), 1);
}

#[test]
fn a_spec_in_another_format_replaces_the_old_one() {
    let tmp = tempfile::tempdir().unwrap();
    let store = SpecStore::new(tmp.path().join("specs"), None);
    let toml = tmp.path().join("web.toml");
    std::fs::write(&toml, spec("web", "oci:/out:web")).unwrap();
    store.apply(&[toml]).unwrap();
    let yaml = tmp.path().join("web.yaml");
    std::fs::write(
        &yaml,
        "apiVersion: kpack.io/v1alpha2\nkind: Image\nmetadata: {name: web}\nspec:\n  tag: oci:/out:web2\n  builder: {runImage: 'oci:/base:latest'}\n  source: {git: {url: /repo, revision: main}}\n",
    )
    .unwrap();
    store.apply(&[yaml]).unwrap();
    let files = store.files().unwrap();
    assert_eq!(files, [tmp.path().join("specs/web.yaml")]);
    assert_eq!(
        store.select(&["web".into()]).unwrap()[0].tag,
        "oci:/out:web2"
    );
}

#[test]
fn duplicate_names_and_unknown_images_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("specs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("one.toml"), spec("web", "oci:/o:1")).unwrap();
    std::fs::write(dir.join("two.toml"), spec("web", "oci:/o:2")).unwrap();
    let store = SpecStore::new(&dir, None);
    let err = store.load_all().unwrap_err().to_string();
    assert!(
        err.contains("one.toml") && err.contains("two.toml"),
        "{err}"
    );
    std::fs::remove_file(dir.join("two.toml")).unwrap();
    let err = store.select(&["api".into()]).unwrap_err().to_string();
    assert!(
        err.contains("`api`") && err.contains("kiln image list"),
        "{err}"
    );
}

#[test]
fn triggers_are_kept_until_cleared() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("specs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("web.toml"), spec("web", "oci:/o:1")).unwrap();
    let store = SpecStore::new(&dir, Some(tmp.path().join("state")));
    assert!(!store.is_triggered("web"));
    store.trigger("web").unwrap();
    assert!(store.is_triggered("web"));
    assert!(tmp.path().join("state/triggers/web").is_file());
    store.clear_trigger("web").unwrap();
    assert!(!store.is_triggered("web"));
    assert!(store.trigger("nope").is_err());
}
