//! deitc's CUDA kernels on a device: every family of `deitc_kernels::source` compiled once
//! per process with NVRTC (PTX for `compute_80`, which the driver compiles for the card at
//! load), loaded once per device, and launched from a [`plan::Launch`] — the same plan the
//! CPU simulator runs in `cargo test`.

use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{result, sys, DevicePtr, DeviceSlice};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};
use deitc_kernels::plan::{self, Buffer, Param, PlanError};
use deitc_kernels::source::FAMILIES;
use dfdx::prelude::*;

/// The virtual architecture the kernels are compiled for: bf16 needs sm_80 (A100) or later.
const ARCH: &str = "compute_80";

/// A device buffer a kernel reads, borrowed for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct In<'a> {
    ptr: sys::CUdeviceptr,
    len: usize,
    _borrow: PhantomData<&'a ()>,
}

/// A device buffer a kernel writes, borrowed mutably for `'a`.
pub(crate) struct Out<'a> {
    ptr: sys::CUdeviceptr,
    len: usize,
    _borrow: PhantomData<&'a mut ()>,
}

impl Buffer for In<'_> {
    fn len(&self) -> usize {
        self.len
    }
}

impl Buffer for Out<'_> {
    fn len(&self) -> usize {
        self.len
    }
}

/// `s` (a buffer or a view of one) as a kernel input.
pub(crate) fn input<S: DevicePtr<f32> + DeviceSlice<f32>>(s: &S) -> In<'_> {
    In {
        ptr: *s.device_ptr(),
        len: s.len(),
        _borrow: PhantomData,
    }
}

/// `s` (a buffer or a view of one) as a kernel output.
pub(crate) fn output<S: DevicePtr<f32> + DeviceSlice<f32>>(s: &mut S) -> Out<'_> {
    Out {
        ptr: *s.device_ptr(),
        len: s.len(),
        _borrow: PhantomData,
    }
}

/// `s`, a buffer of bytes (a table of structs), as a kernel input; its length in bytes.
pub(crate) fn input_bytes<S: DevicePtr<u8> + DeviceSlice<u8>>(s: &S) -> In<'_> {
    In {
        ptr: *s.device_ptr(),
        len: s.len(),
        _borrow: PhantomData,
    }
}

/// `s`, a buffer of bf16 values (their bits), as a kernel input.
pub(crate) fn input_bf16<S: DevicePtr<u16> + DeviceSlice<u16>>(s: &S) -> In<'_> {
    In {
        ptr: *s.device_ptr(),
        len: s.len(),
        _borrow: PhantomData,
    }
}

/// `s`, a buffer of bf16 values (their bits), as a kernel output.
pub(crate) fn output_bf16<S: DevicePtr<u16> + DeviceSlice<u16>>(s: &mut S) -> Out<'_> {
    Out {
        ptr: *s.device_ptr(),
        len: s.len(),
        _borrow: PhantomData,
    }
}

/// Where `cuda_bf16.h` is: `DEITC_CUDA_INCLUDE`, else the folder dfdx was built against.
fn include_dir() -> String {
    std::env::var("DEITC_CUDA_INCLUDE").unwrap_or_else(|_| Cuda::INCLUDE_DIR.to_string())
}

/// Every family's PTX, compiled on first use (about a second), or why it did not compile.
fn ptx() -> &'static Result<Vec<(&'static str, CString)>, String> {
    static PTX: OnceLock<Result<Vec<(&'static str, CString)>, String>> = OnceLock::new();
    PTX.get_or_init(|| {
        FAMILIES
            .iter()
            .map(|f| {
                let opts = CompileOptions {
                    arch: Some(ARCH),
                    include_paths: vec![include_dir()],
                    ..Default::default()
                };
                let ptx = compile_ptx_with_opts(f.program(), opts)
                    .map_err(|e| format!("NVRTC could not compile {}: {e:?}", f.file))?;
                let image = CString::new(ptx.to_src())
                    .map_err(|_| format!("NVRTC's PTX for {} holds a NUL byte", f.file))?;
                Ok((f.file, image))
            })
            .collect()
    })
}

/// The kernels loaded on one device: each kernel's function handle by name.
pub(crate) struct Loaded {
    device: Arc<cudarc::driver::CudaDevice>,
    functions: HashMap<&'static str, sys::CUfunction>,
}

// SAFETY: a `CUfunction` is a handle into a module loaded in the device's primary context,
// which lives as long as the process; the driver API may be called with it from any thread
// once that context is current (`launch` makes it current first). The handles are never
// freed, so sharing them cannot dangle.
#[allow(unsafe_code)]
unsafe impl Send for Loaded {}
// SAFETY: as above; `Loaded` is never mutated after it is built.
#[allow(unsafe_code)]
unsafe impl Sync for Loaded {}

/// The kernels on `dev`'s device, compiled and loaded on first use.
pub(crate) fn loaded(dev: &Cuda) -> Result<Arc<Loaded>, String> {
    static LOADED: OnceLock<Mutex<HashMap<usize, Arc<Loaded>>>> = OnceLock::new();
    let device = dev.cuda_device();
    let mut table = LOADED
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| "the CUDA kernel table was poisoned by an earlier panic".to_string())?;
    if let Some(l) = table.get(&device.ordinal()) {
        return Ok(l.clone());
    }
    let ptx = ptx().as_ref().map_err(Clone::clone)?;
    let mut functions = HashMap::new();
    for (family, (file, image)) in FAMILIES.iter().zip(ptx) {
        for &name in family.kernels {
            let f = load(device, image, name).map_err(|e| format!("loading {file}: {e}"))?;
            functions.insert(name, f);
        }
    }
    let l = Arc::new(Loaded {
        device: device.clone(),
        functions,
    });
    table.insert(device.ordinal(), l.clone());
    Ok(l)
}

/// Loads `image` (NUL-terminated PTX) into `device`'s primary context and finds `name`.
#[allow(unsafe_code)]
fn load(
    device: &cudarc::driver::CudaDevice,
    image: &CString,
    name: &str,
) -> Result<sys::CUfunction, String> {
    let name = CString::new(name).map_err(|_| "a kernel name holds a NUL byte".to_string())?;
    // SAFETY: the context is the device's primary context, retained by `device`; `image` is
    // a NUL-terminated PTX text that outlives the call; the module is never unloaded, so the
    // function handle stays valid for the process.
    unsafe {
        result::ctx::set_current(*device.cu_primary_ctx()).map_err(|e| format!("{e:?}"))?;
        let module = result::module::load_data(image.as_ptr().cast::<c_void>())
            .map_err(|e| format!("{e:?}"))?;
        result::module::get_function(module, name).map_err(|e| format!("{e:?}"))
    }
}

/// Why a planned launch failed, as dfdx's CUDA error: a plan error is a bug in deitc (the
/// plan's lengths come from the tensors' static shapes), reported as an invalid value.
fn plan_error(_: PlanError) -> CudaError {
    CudaError::Driver(result::DriverError(sys::CUresult::CUDA_ERROR_INVALID_VALUE))
}

impl Loaded {
    /// Launches `plan` on the device's default stream (dfdx's stream: ordered with its ops).
    pub(crate) fn run(
        &self,
        plan: Result<plan::Launch<In<'_>, Out<'_>>, PlanError>,
    ) -> Result<(), CudaError> {
        let plan = plan.map_err(plan_error)?;
        let f = *self
            .functions
            .get(plan.kernel)
            .ok_or(CudaError::Driver(result::DriverError(
                sys::CUresult::CUDA_ERROR_NOT_FOUND,
            )))?;
        // One 8-byte slot per parameter, holding the value the kernel receives.
        let mut slots: Vec<[u8; 8]> = plan
            .params
            .iter()
            .map(|p| {
                let mut slot = [0u8; 8];
                match p {
                    Param::In(b) => slot.copy_from_slice(&b.ptr.to_ne_bytes()),
                    Param::Out(b) => slot.copy_from_slice(&b.ptr.to_ne_bytes()),
                    Param::Null => {}
                    Param::I32(v) => slot[..4].copy_from_slice(&v.to_ne_bytes()),
                    Param::F32(v) => slot[..4].copy_from_slice(&v.to_ne_bytes()),
                    Param::U64(v) => slot.copy_from_slice(&v.to_ne_bytes()),
                    Param::F64(v) => slot.copy_from_slice(&v.to_ne_bytes()),
                }
                slot
            })
            .collect();
        launch(&self.device, f, &plan.config, &mut slots).map_err(CudaError::Driver)
    }
}

/// `cuLaunchKernel` of `f` with `slots` as its parameters.
#[allow(unsafe_code)]
fn launch(
    device: &cudarc::driver::CudaDevice,
    f: sys::CUfunction,
    cfg: &deitc_kernels::LaunchConfig,
    slots: &mut [[u8; 8]],
) -> Result<(), result::DriverError> {
    let mut params: Vec<*mut c_void> = slots
        .iter_mut()
        .map(|s| s.as_mut_ptr().cast::<c_void>())
        .collect();
    // SAFETY: `f` was loaded into this device's primary context (`loaded`), made current
    // here. Each slot holds one parameter of the kernel's type in the kernel's order (a
    // device pointer, an `unsigned long long` or a `double`, or an `int` or a `float` in its first bytes), as built from a plan whose
    // buffer lengths were checked against its sizes; every pointer is a live device
    // allocation borrowed for the plan's lifetime (`In`/`Out`), and the launch is queued on
    // the default stream before those borrows end, so dfdx frees nothing it uses before the
    // kernel runs (frees are stream-ordered there too).
    unsafe {
        result::ctx::set_current(*device.cu_primary_ctx())?;
        result::launch_kernel(
            f,
            cfg.grid,
            cfg.block,
            cfg.shared_bytes,
            *device.cu_stream(),
            &mut params,
        )
    }
}
