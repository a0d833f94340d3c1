//! WAV files for the headless mode: read any rate, channel count and sample format as mono
//! f32; write 16-bit or float mono.

use std::path::Path;

use crate::error::VoiceError;

/// Keeps hound's error (and the I/O error inside it) as the source, next to the file's path.
pub(crate) fn wav_err(path: &Path, source: hound::Error) -> VoiceError {
    VoiceError::Wav {
        path: path.display().to_string(),
        source,
    }
}

/// Reads a WAV file as mono f32 (channels averaged) and returns it with its sample rate.
pub fn read_mono(path: &Path) -> Result<(Vec<f32>, u32), VoiceError> {
    let mut r = hound::WavReader::open(path).map_err(|e| wav_err(path, e))?;
    let spec = r.spec();
    let ch = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| wav_err(path, e))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.saturating_sub(1))) as f32;
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| wav_err(path, e))?
        }
    };
    let mono = interleaved
        .chunks_exact(ch)
        .map(|f| f.iter().sum::<f32>() / ch as f32)
        .collect();
    Ok((mono, spec.sample_rate))
}

/// Writes mono samples as a 16-bit PCM WAV file (clipped to -1..1).
pub fn write_mono_i16(path: &Path, samples: &[f32], rate: u32) -> Result<(), VoiceError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| wav_err(path, e))?;
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16;
        w.write_sample(v).map_err(|e| wav_err(path, e))?;
    }
    w.finalize().map_err(|e| wav_err(path, e))
}

/// Writes mono samples as a 32-bit float WAV file (unclipped: a canceller's input, bit-exact).
pub fn write_mono_f32(path: &Path, samples: &[f32], rate: u32) -> Result<(), VoiceError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| wav_err(path, e))?;
    for s in samples {
        w.write_sample(*s).map_err(|e| wav_err(path, e))?;
    }
    w.finalize().map_err(|e| wav_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_int_file_reads_as_mono() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("s.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&p, spec)?;
        for _ in 0..10 {
            w.write_sample(16384i16)?;
            w.write_sample(0i16)?;
        }
        w.finalize()?;
        let (m, rate) = read_mono(&p)?;
        assert_eq!((m.len(), rate), (10, 44_100));
        assert!((m[0] - 0.25).abs() < 1e-4);
        let q = dir.path().join("o.wav");
        write_mono_i16(&q, &m, 24_000)?;
        let (m2, r2) = read_mono(&q)?;
        assert_eq!((m2.len(), r2), (10, 24_000));
        assert!((m2[3] - 0.25).abs() < 1e-3);
        let f = dir.path().join("f.wav");
        write_mono_f32(&f, &[0.1, -1.5, 1e-7], 24_000)?;
        assert_eq!(read_mono(&f)?, (vec![0.1, -1.5, 1e-7], 24_000));
        Ok(())
    }
}
