//! Plots of real records: a PNG is a picture of the right size with lines and text on it,
//! an SVG keeps its labels as text, and other file names are refused.

use std::path::PathBuf;

use fccl_benches::plot::{PlotFormat, SIZE, write_plot};
use fccl_benches::{BenchRecord, BenchSpec, run};
use fccl_collectives::{Collective, local};

/// The 8-byte signature every PNG file starts with.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// Allreduce and broadcast on 2 in-process ranks at a few sizes: two lines a panel.
fn records() -> Vec<BenchRecord> {
    [Collective::AllReduce, Collective::Broadcast]
        .into_iter()
        .flat_map(|collective| {
            let mut spec = BenchSpec::new(collective, vec![64, 4096, 65536]);
            spec.iters = 2;
            spec.warmup = 0;
            spec.transport = "local".to_string();
            local::run(2, |mut comm| {
                let spec = spec.clone();
                async move { run(&mut comm, &spec, &mut |_| {}).await.unwrap() }
            })
            .swap_remove(0)
        })
        .collect()
}

/// A fresh path in the temporary directory for this test's `name`.
fn scratch(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("fccl-plot-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn png_is_a_picture_of_the_runs() {
    let path = scratch("runs.png");
    write_plot(&records(), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes[..8], PNG_SIGNATURE);
    // The first chunk is IHDR, whose data opens with the width and height, big-endian.
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), SIZE);

    let picture = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(picture.dimensions(), SIZE);
    let background = image::Rgb([255, 255, 255]);
    let drawn = picture.pixels().filter(|p| **p != background).count();
    // Axes, grid, text and lines: well above nothing, well below everything.
    let all = (SIZE.0 * SIZE.1) as usize;
    assert!(
        drawn > all / 100 && drawn < all / 2,
        "{drawn} of {all} pixels drawn"
    );
    // The first two lines' colours are there, and so is black (axes, text).
    for colour in [[31, 119, 180], [255, 127, 14], [0, 0, 0]] {
        assert!(
            picture.pixels().any(|p| p.0 == colour),
            "no pixel of {colour:?}"
        );
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn svg_keeps_its_labels_as_text() {
    let path = scratch("runs.svg");
    write_plot(&records(), &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    for label in [
        "allreduce local 2 ranks",
        "broadcast local 2 ranks",
        "bus bandwidth",
    ] {
        assert!(svg.contains(label), "{label}");
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn the_extension_chooses_the_format() {
    let of = |name: &str| PlotFormat::of(name.as_ref());
    assert_eq!(of("a.svg"), Ok(PlotFormat::Svg));
    assert_eq!(of("dir/a.PNG"), Ok(PlotFormat::Png));
    for bad in ["a.gif", "a.jpg", "a", "svg"] {
        let e = of(bad).unwrap_err();
        assert!(e.contains("FILE.svg or FILE.png"), "{bad}: {e}");
    }
    let e = write_plot(&records(), &scratch("runs.gif")).unwrap_err();
    assert!(e.contains("FILE.svg or FILE.png"), "{e}");
}
