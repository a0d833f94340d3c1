//! What `sysinfo` cannot tell on macOS: the GPU working-set limit (Metal's
//! `recommendedMaxWorkingSetSize`), `hw.memsize` and the number of
//! performance cores (`hw.perflevel0.physicalcpu`). On other systems every
//! field is `None` and the caller falls back to documented estimates.

/// Facts read from macOS, each `None` when unavailable.
#[derive(Debug, Default, Clone)]
pub struct Extra {
    /// `machdep.cpu.brand_string`.
    pub brand: Option<String>,
    /// `hw.memsize`, physical memory in bytes.
    pub memsize: Option<u64>,
    /// Metal's recommended maximum working set for the default GPU.
    pub gpu_budget: Option<u64>,
    /// `hw.perflevel0.physicalcpu`.
    pub performance_cores: Option<u32>,
}

/// Reads the macOS-only facts.
#[cfg(target_os = "macos")]
pub fn extra() -> Extra {
    Extra {
        brand: sysctl::string("machdep.cpu.brand_string"),
        memsize: sysctl::u64("hw.memsize"),
        gpu_budget: metal_working_set(),
        performance_cores: sysctl::u64("hw.perflevel0.physicalcpu").map(|n| n as u32),
    }
}

/// Reads the macOS-only facts (none on this system).
#[cfg(not(target_os = "macos"))]
pub fn extra() -> Extra {
    Extra::default()
}

#[cfg(target_os = "macos")]
fn metal_working_set() -> Option<u64> {
    use objc2_metal::MTLDevice;
    let device = objc2_metal::MTLCreateSystemDefaultDevice()?;
    let size = device.recommendedMaxWorkingSetSize();
    (size > 0).then_some(size)
}

#[cfg(target_os = "macos")]
mod sysctl {
    use std::ffi::CString;

    /// Reads sysctl `name` into `buf`; returns how many bytes the kernel wrote.
    fn read(name: &str, buf: &mut [u8]) -> Option<usize> {
        let name = CString::new(name).ok()?;
        let mut len: libc::size_t = buf.len();
        // SAFETY: `buf` is valid for `len` bytes, `name` is NUL-terminated,
        // and sysctlbyname writes at most `len` bytes, updating `len`.
        let rc = unsafe {
            libc::sysctlbyname(
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        (rc == 0).then_some(len)
    }

    /// Reads an integer sysctl (4 or 8 bytes wide).
    pub fn u64(name: &str) -> Option<u64> {
        let mut buf = [0u8; 8];
        match read(name, &mut buf)? {
            8 => Some(u64::from_ne_bytes(buf)),
            4 => Some(u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as u64),
            _ => None,
        }
    }

    /// Reads a string sysctl (the kernel NUL-terminates it within the buffer).
    pub fn string(name: &str) -> Option<String> {
        let mut buf = vec![0u8; 256];
        let len = read(name, &mut buf)?;
        buf.truncate(len);
        let s = String::from_utf8_lossy(&buf);
        Some(s.trim_end_matches('\0').trim().to_string())
    }
}
