//! The route-by-scope page is the route table itself: this test fails when they differ.
//! `BLESS=1 cargo test -p agentry --test docs` rewrites the page from the table.

use std::path::Path;

const START: &str = "<!-- routes:start -->\n";
const END: &str = "<!-- routes:end -->";

#[test]
fn docs_routes_md_lists_every_route_with_its_scope() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/routes.md");
    let page = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = page.split_once(START).unwrap();
    let (_, tail) = rest.split_once(END).unwrap();
    let table = agentry::routes::table::markdown();
    let wanted = format!("{head}{START}{table}{END}{tail}");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &wanted).unwrap();
    }
    assert!(
        page == wanted,
        "docs/routes.md is not the route table; run BLESS=1 cargo test -p agentry --test docs"
    );
}
