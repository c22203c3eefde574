//! Peak resident memory of the process, from `/proc/self/status`.
//!
//! In-process ranks share one process, so this is the whole job's peak there; ranks in
//! separate processes each report their own and the harness takes the largest.

/// The peak resident set size (`VmHWM`) in MiB, or 0 where `/proc` is not available.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| parse_vm_hwm_kib(&status))
        .map_or(0.0, |kib| kib as f64 / 1024.0)
}

/// Resets the peak to the current resident size (Linux `clear_refs` with 5), so that the
/// next reading is the peak of what runs in between. Best effort: where the kernel refuses,
/// the peak stays the process's lifetime peak.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The `VmHWM` line's value in KiB.
fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vm_hwm() {
        let status = "Name:\tfccl\nVmPeak:\t  10 kB\nVmHWM:\t    2048 kB\nVmRSS:\t1 kB\n";
        assert_eq!(parse_vm_hwm_kib(status), Some(2048));
        assert_eq!(parse_vm_hwm_kib("Name: x\n"), None);
    }

    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_mb() > 0.0);
        }
    }
}
