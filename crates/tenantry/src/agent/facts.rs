//! The real facts of the machine the agent runs on, read from the places Linux keeps them.

use std::path::Path;

use tenantry_proto::HostFacts;

fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// `KEY=value` (value optionally quoted) from an os-release file.
pub fn os_release_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').trim_matches('\'').to_owned())
    })
}

fn fqdn(hostname: &str) -> Option<String> {
    let out = std::process::Command::new("hostname")
        .arg("--fqdn")
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (name.contains('.') && name != hostname).then_some(name)
}

fn memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb = meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix("MemTotal:")?;
        rest.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
    })?;
    Some(kb * 1024)
}

pub fn collect() -> HostFacts {
    let hostname = read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| read_trimmed("/etc/hostname"))
        .unwrap_or_else(|| "localhost".to_owned());
    let os_release = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    HostFacts {
        fqdn: fqdn(&hostname),
        hostname,
        os_name: os_release_field(&os_release, "NAME"),
        os_version: os_release_field(&os_release, "VERSION_ID"),
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        arch: Some(std::env::consts::ARCH.to_owned()),
        cpus: std::thread::available_parallelism()
            .ok()
            .and_then(|n| u32::try_from(n.get()).ok()),
        memory_bytes: memory_bytes(),
    }
}

/// The machine's stable id (/etc/machine-id), or one generated once and kept in
/// `state_dir` where the machine has none.
pub fn machine_id(state_dir: &Path) -> std::io::Result<String> {
    if let Some(id) =
        read_trimmed("/etc/machine-id").or_else(|| read_trimmed("/var/lib/dbus/machine-id"))
    {
        return Ok(id);
    }
    let kept = state_dir.join("machine-id");
    if let Some(id) = read_trimmed(&kept) {
        return Ok(id);
    }
    let mut bytes = [0u8; 16];
    let mut urandom = std::fs::File::open("/dev/urandom")?;
    std::io::Read::read_exact(&mut urandom, &mut bytes)?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&kept, &id)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_os_release() {
        let text = "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";
        assert_eq!(
            os_release_field(text, "NAME").as_deref(),
            Some("Debian GNU/Linux")
        );
        assert_eq!(os_release_field(text, "VERSION_ID").as_deref(), Some("12"));
        assert_eq!(os_release_field(text, "VERSION"), None);
    }

    #[test]
    fn collects_this_machine() {
        let facts = collect();
        assert!(!facts.hostname.is_empty());
        assert!(facts.cpus.is_some_and(|n| n >= 1));
        assert!(facts.memory_bytes.is_some_and(|m| m > 0));
    }
}
