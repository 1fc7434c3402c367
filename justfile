# Commands humans and CI share. The README's two commands work without `just`
# (install it with `cargo install just` or `pip install rust-just`).

# Run the server on the embedded SQLite database in ./data
run *ARGS:
    cargo run -- {{ARGS}}

# Every test; set TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/agentry_test for the PostgreSQL lane
test:
    cargo test --workspace

# Formatting and lints, as CI runs them
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# The layering rule: agentry-domain must not depend on I/O crates
check-layers:
    cargo test -p agentry-domain --test layering

# Criterion benchmarks (release profile); PostgreSQL too when TEST_DATABASE_URL is set
bench *ARGS:
    cargo bench -p agentry-benches {{ARGS}}

# What CI runs
ci:
    bash .ci/run
