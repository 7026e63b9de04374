//! Writes seed inputs for the fuzz targets in `protocol/fuzz`, built with the encoders:
//! `cargo run -p pgscope-protocol --example fuzz_seeds -- protocol/fuzz/corpus`
//! creates `corpus/frontend/` and `corpus/backend/`. Each seed starts with the two
//! chunking-seed bytes the targets read first.

use std::path::Path;

use bytes::Bytes;
use pgscope_protocol::encode::{backend as be, frontend as fe};

fn write(dir: &Path, name: &str, chunk_seed: u16, parts: &[Bytes]) -> std::io::Result<()> {
    let mut data = chunk_seed.to_be_bytes().to_vec();
    for p in parts {
        data.extend_from_slice(p);
    }
    std::fs::write(dir.join(name), data)
}

fn main() -> std::io::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "protocol/fuzz/corpus".into());
    let front = Path::new(&root).join("frontend");
    let back = Path::new(&root).join("backend");
    std::fs::create_dir_all(&front)?;
    std::fs::create_dir_all(&back)?;

    write(
        &front,
        "startup",
        7,
        &[fe::startup((3, 0), &[("user", "u"), ("database", "d")])],
    )?;
    write(
        &front,
        "startup32",
        8,
        &[fe::startup((3, 2), &[("user", "u"), ("_pq_.x", "1")])],
    )?;
    write(&front, "ssl", 1, &[fe::ssl_request(), fe::gssenc_request()])?;
    write(&front, "cancel32", 2, &[fe::cancel_request(42, &[5; 32])])?;
    write(
        &front,
        "simple",
        3,
        &[fe::query("SELECT 1; SELECT 2"), fe::terminate()],
    )?;
    write(
        &front,
        "extended",
        4,
        &[
            fe::parse("s1", "SELECT $1", &[23]),
            fe::bind("p1", "s1", &[Some(b"1"), None]),
            fe::describe(b'P', "p1"),
            fe::execute("p1", 10),
            fe::close(b'S', "s1"),
            fe::flush(),
            fe::sync(),
        ],
    )?;
    write(
        &front,
        "copy",
        5,
        &[
            fe::copy_data(b"1\tx\n"),
            fe::copy_done(),
            fe::copy_fail("no"),
        ],
    )?;
    write(
        &front,
        "auth",
        6,
        &[
            fe::password("pw"),
            fe::sasl_initial_response("SCRAM-SHA-256", Some(b"n,,n=,r=x")),
            fe::sasl_response(b"c=biws"),
            fe::function_call(1598, &[Some(b"a")]),
        ],
    )?;

    write(
        &back,
        "auth",
        1,
        &[
            be::auth_sasl(&["SCRAM-SHA-256"]),
            be::auth_sasl_continue(b"r=x"),
            be::auth_sasl_final(b"v=y"),
            be::auth_md5_password([1, 2, 3, 4]),
            be::auth_ok(),
            be::parameter_status("TimeZone", "UTC"),
            be::backend_key_data(7, &[9; 32]),
            be::negotiate_protocol_version(0, &["_pq_.x"]),
            be::ready_for_query(b'I'),
        ],
    )?;
    write(
        &back,
        "rows",
        2,
        &[
            be::row_description(&["a", "b"]),
            be::data_row(&[Some(b"1"), None]),
            be::data_row(&[Some(b"2"), Some(b"x")]),
            be::command_complete("SELECT 2"),
            be::ready_for_query(b'T'),
        ],
    )?;
    write(
        &back,
        "extended",
        3,
        &[
            be::parse_complete(),
            be::parameter_description(&[23]),
            be::no_data(),
            be::bind_complete(),
            be::portal_suspended(),
            be::close_complete(),
            be::empty_query_response(),
            be::function_call_response(Some(b"1")),
            be::ready_for_query(b'I'),
        ],
    )?;
    write(
        &back,
        "errors",
        4,
        &[
            be::notice_response("WARNING", "01000", "careful"),
            be::error_response("ERROR", "42P01", "no such table"),
            be::notification(1, "ch", "payload"),
            be::ready_for_query(b'E'),
        ],
    )?;
    write(
        &back,
        "copy",
        5,
        &[
            be::copy_out_response(2),
            be::copy_data(b"1\tx\n"),
            be::copy_done(),
            be::copy_in_response(1),
            be::copy_both_response(0),
            be::command_complete("COPY 1"),
        ],
    )?;
    Ok(())
}
