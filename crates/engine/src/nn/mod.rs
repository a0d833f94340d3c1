//! The few layers Moshi's LM needs, each either dense (fp32/bf16) or affine-quantized
//! (`nn.QuantizedLinear` / `nn.QuantizedEmbedding` semantics).

use crate::error::EngineError;
use crate::quant::QuantSpec;
use crate::weights::WeightStore;
use mlx_rs::{Array, Dtype};

/// How the checkpoint stores Linear and Embedding weights, and the activation dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// Dense weights, cast to this dtype (fp32 or bf16) at load time.
    Dense(Dtype),
    /// Affine-quantized weights (`*.weight` uint32, `*.scales`, `*.biases`), bf16 activations.
    Quantized(QuantSpec),
}

impl WeightFormat {
    /// The dtype activations (and norm weights) run in.
    pub fn activation_dtype(&self) -> Dtype {
        match self {
            WeightFormat::Dense(d) => *d,
            WeightFormat::Quantized(_) => Dtype::Bfloat16,
        }
    }
}

/// Weight matrix `(out, in)`, dense or quantized.
pub enum Matrix {
    /// Dense `(out, in)`.
    Dense(Array),
    /// Packed uint32 weights with per-group scales and biases.
    Quantized {
        /// `(out, in·bits/32)` uint32.
        w: Array,
        /// `(out, in/group)`.
        scales: Array,
        /// `(out, in/group)`.
        biases: Array,
        /// Bits and group size.
        spec: QuantSpec,
    },
}

impl Matrix {
    /// Loads `{prefix}.weight` (and `.scales` / `.biases` when quantized) of logical shape
    /// `(out, inp)`.
    pub fn load(
        ws: &mut WeightStore,
        prefix: &str,
        out: usize,
        inp: usize,
        fmt: WeightFormat,
    ) -> Result<Matrix, EngineError> {
        match fmt {
            WeightFormat::Dense(dtype) => {
                let w = ws.take_float(&format!("{prefix}.weight"), &[out, inp])?;
                Ok(Matrix::Dense(w.as_dtype(dtype)?))
            }
            WeightFormat::Quantized(spec) => {
                let bits = spec.bits as usize;
                let group = spec.group_size as usize;
                let name = format!("{prefix}.weight");
                if !inp.is_multiple_of(group) || !(inp * bits).is_multiple_of(32) {
                    return Err(EngineError::weights(
                        name,
                        format!("input dimension {inp} cannot be quantized with {spec:?}"),
                    ));
                }
                let w = ws.take(&name, &[out, inp * bits / 32], Some(Dtype::Uint32))?;
                let scales = ws.take_float(&format!("{prefix}.scales"), &[out, inp / group])?;
                let biases = ws.take_float(&format!("{prefix}.biases"), &[out, inp / group])?;
                Ok(Matrix::Quantized {
                    w,
                    scales,
                    biases,
                    spec,
                })
            }
        }
    }

    /// `x @ W.T` (a bias-free `nn.Linear` / `nn.QuantizedLinear`).
    pub fn linear(&self, x: &Array) -> Result<Array, EngineError> {
        Ok(match self {
            Matrix::Dense(w) => x.matmul(w.t())?,
            Matrix::Quantized {
                w,
                scales,
                biases,
                spec,
            } => mlx_rs::ops::quantized_matmul(
                x,
                w,
                scales,
                biases,
                true,
                spec.group_size,
                spec.bits,
            )?,
        })
    }

    /// Rows `ids` (any shape of int32 ids) -> `ids.shape + [in]` (`nn.Embedding` /
    /// `nn.QuantizedEmbedding`).
    pub fn embed(&self, ids: &Array) -> Result<Array, EngineError> {
        Ok(match self {
            Matrix::Dense(w) => w.take_axis(ids, 0)?,
            Matrix::Quantized {
                w,
                scales,
                biases,
                spec,
            } => mlx_rs::ops::dequantize(
                w.take_axis(ids, 0)?,
                scales.take_axis(ids, 0)?,
                &biases.take_axis(ids, 0)?,
                spec.group_size,
                spec.bits,
            )?,
        })
    }
}

/// RMSNorm with eps 1e-8 (Moshi's LM), weight in the activation dtype.
pub struct RmsNorm {
    weight: Array,
    eps: f32,
}

impl RmsNorm {
    /// Loads `{prefix}.weight` of shape `(dim,)`.
    pub fn load(
        ws: &mut WeightStore,
        prefix: &str,
        dim: usize,
        fmt: WeightFormat,
    ) -> Result<RmsNorm, EngineError> {
        let w = ws.take_float(&format!("{prefix}.weight"), &[dim])?;
        Ok(RmsNorm {
            weight: w.as_dtype(fmt.activation_dtype())?,
            eps: 1e-8,
        })
    }

    /// The scale vector.
    pub fn weight(&self) -> &Array {
        &self.weight
    }

    /// `mx.fast.rms_norm(x, weight, eps)`.
    pub fn forward(&self, x: &Array) -> Result<Array, EngineError> {
        Ok(mlx_rs::fast::rms_norm(x, Some(&self.weight), self.eps)?)
    }
}

/// Extra MLX CPU streams that large matrix-vector products are split across.
///
/// MLX's CPU backend runs each stream's operations on one thread, and its bf16/quantized
/// matmuls are single-threaded, so a one-stream LM step uses one core. Splitting a weight
/// matrix by rows into `ways()` parts, each multiplied on its own stream, and concatenating
/// the results uses that many cores; every output element is the same dot product as
/// before, so the result is bit-identical (checked by the parity tests). On the GPU there
/// is nothing to gain, and [`CpuSplit::auto`] returns [`CpuSplit::none`].
///
/// Streams belong to the thread that created them (MLX ≥ 0.31.2): create the split on the
/// thread that runs the model.
#[derive(Clone, Default)]
pub struct CpuSplit {
    streams: Vec<SendStream>,
}

/// An MLX stream handle that may move between threads with the model that owns it.
///
/// `mlx_rs::Stream` is not `Send` because it wraps a C pointer; the pointee is an immutable
/// (index, device) pair, and MLX itself refuses (with an error, not undefined behaviour) to
/// run a stream on a thread it does not belong to — the same reasoning as mlx-rs's own
/// `unsafe impl Send for Array`. `Moshi` must be `Send` for the voice session's
/// `FrameModel`, and it is still run on the thread that loaded it.
#[derive(Clone)]
struct SendStream(mlx_rs::Stream);

// SAFETY: see the type's documentation; the handle is never used concurrently.
unsafe impl Send for SendStream {}

impl std::fmt::Debug for CpuSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CpuSplit({} ways)", self.ways())
    }
}

/// Environment variable that overrides how many CPU streams [`CpuSplit::auto`] uses
/// (`1` = no split).
pub const CPU_STREAMS_ENV: &str = "MOSHIBAR_CPU_STREAMS";

/// Matrices with fewer output rows than this are not split (the cross-stream
/// synchronisation would cost more than it saves).
const MIN_SPLIT_ROWS: i32 = 512;

impl CpuSplit {
    /// No split: everything on the default stream.
    pub fn none() -> CpuSplit {
        CpuSplit::default()
    }

    /// `ways` parts (`ways - 1` new CPU streams besides the default one); 0 and 1 = none.
    pub fn new(ways: usize) -> CpuSplit {
        let cpu = mlx_rs::Device::cpu();
        CpuSplit {
            streams: (1..ways.max(1))
                .map(|_| SendStream(mlx_rs::Stream::new_with_device(&cpu)))
                .collect(),
        }
    }

    /// The split a model gets at load: `MOSHIBAR_CPU_STREAMS` ways on the CPU backend
    /// (unset = 1, no split), none on the GPU.
    ///
    /// Not on by default: each split matmul ends in a cross-stream wait, about 230 per step
    /// for the LM, and on a loaded machine (other processes on the cores) the waits cost more
    /// than the second core gives (measured in the engine README).
    pub fn auto() -> CpuSplit {
        let on_cpu = mlx_rs::Device::try_default()
            .and_then(|d| d.get_type())
            .map(|t| matches!(t, mlx_rs::DeviceType::Cpu))
            .unwrap_or(false);
        if !on_cpu {
            return CpuSplit::none();
        }
        let ways = std::env::var(CPU_STREAMS_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(1);
        CpuSplit::new(ways)
    }

    /// How many parts a large matrix is split into.
    pub fn ways(&self) -> usize {
        self.streams.len() + 1
    }
}

impl Matrix {
    /// Output rows `start..end` (a view sharing the weights' buffer once evaluated).
    pub fn rows(&self, start: i32, end: i32) -> Result<Matrix, EngineError> {
        use mlx_rs::ops::indexing::TryIndexOp;
        let r = |a: &Array| -> Result<Array, EngineError> { Ok(a.try_index(start..end)?) };
        Ok(match self {
            Matrix::Dense(w) => Matrix::Dense(r(w)?),
            Matrix::Quantized {
                w,
                scales,
                biases,
                spec,
            } => Matrix::Quantized {
                w: r(w)?,
                scales: r(scales)?,
                biases: r(biases)?,
                spec: *spec,
            },
        })
    }

    /// Output rows.
    pub fn out_dim(&self) -> i32 {
        match self {
            Matrix::Dense(w) | Matrix::Quantized { w, .. } => w.shape()[0],
        }
    }

    /// The arrays holding this matrix (to evaluate them).
    pub fn arrays(&self) -> Vec<&Array> {
        match self {
            Matrix::Dense(w) => vec![w],
            Matrix::Quantized {
                w, scales, biases, ..
            } => vec![w, scales, biases],
        }
    }

    /// Stacks matrices with the same input dimension and format along the output rows
    /// (one matmul instead of several; the rows are copied into one new buffer).
    pub fn stack_rows(parts: &[Matrix]) -> Result<Matrix, EngineError> {
        let cat = |xs: Vec<&Array>| -> Result<Array, EngineError> {
            Ok(mlx_rs::ops::concatenate(&xs, 0)?)
        };
        match parts.first() {
            None => Err(EngineError::Shape("nothing to stack".into())),
            Some(Matrix::Dense(_)) => {
                let mut ws = Vec::with_capacity(parts.len());
                for p in parts {
                    match p {
                        Matrix::Dense(w) => ws.push(w),
                        Matrix::Quantized { .. } => {
                            return Err(EngineError::Shape("mixed matrix formats".into()))
                        }
                    }
                }
                Ok(Matrix::Dense(cat(ws)?))
            }
            Some(Matrix::Quantized { spec, .. }) => {
                let (mut ws, mut ss, mut bs) = (Vec::new(), Vec::new(), Vec::new());
                for p in parts {
                    match p {
                        Matrix::Quantized {
                            w,
                            scales,
                            biases,
                            spec: s,
                        } if s == spec => {
                            ws.push(w);
                            ss.push(scales);
                            bs.push(biases);
                        }
                        _ => return Err(EngineError::Shape("mixed matrix formats".into())),
                    }
                }
                Ok(Matrix::Quantized {
                    w: cat(ws)?,
                    scales: cat(ss)?,
                    biases: cat(bs)?,
                    spec: *spec,
                })
            }
        }
    }
}

/// A [`Matrix`] whose `linear` is split by output rows across a [`CpuSplit`]'s streams.
pub struct SplitMatrix {
    whole: Matrix,
    parts: Vec<Matrix>,
    streams: Vec<SendStream>,
}

impl SplitMatrix {
    /// Splits `whole` into `split.ways()` row blocks (none if it is small or there is one way).
    pub fn new(whole: Matrix, split: &CpuSplit) -> Result<SplitMatrix, EngineError> {
        let mut m = SplitMatrix {
            whole,
            parts: Vec::new(),
            streams: Vec::new(),
        };
        m.resplit(split)?;
        Ok(m)
    }

    /// Re-splits for another [`CpuSplit`].
    pub fn resplit(&mut self, split: &CpuSplit) -> Result<(), EngineError> {
        let rows = self.whole.out_dim();
        let ways = split.ways() as i32;
        self.parts.clear();
        self.streams.clear();
        if ways <= 1 || rows < MIN_SPLIT_ROWS {
            return Ok(());
        }
        for i in 0..ways {
            self.parts
                .push(self.whole.rows(rows * i / ways, rows * (i + 1) / ways)?);
        }
        let arrays: Vec<&Array> = self.parts.iter().flat_map(Matrix::arrays).collect();
        mlx_rs::transforms::eval(arrays)?;
        self.streams = split.streams.clone();
        Ok(())
    }

    /// The unsplit matrix.
    pub fn matrix(&self) -> &Matrix {
        &self.whole
    }

    /// `x @ W.T`, part `i > 0` computed on stream `i - 1`, concatenated on the default stream.
    pub fn linear(&self, x: &Array) -> Result<Array, EngineError> {
        let Some((first, rest)) = self.parts.split_first() else {
            return self.whole.linear(x);
        };
        let mut outs = Vec::with_capacity(self.parts.len());
        for (part, stream) in rest.iter().zip(&self.streams) {
            outs.push(mlx_rs::with_stream(&stream.0, || part.linear(x))?);
        }
        outs.insert(0, first.linear(x)?);
        Ok(mlx_rs::ops::concatenate(&outs, -1)?)
    }
}
