//! Four f32 lanes for the page's CPU kernels ([`panels`](super::panels), [`dots`](super::dots)):
//! WebAssembly SIMD128 in the page, plain arrays elsewhere (natively, where these kernels are
//! only tested), with the same rounding, so both give the same bits: a multiply and an add each
//! rounded (no fused multiply-add: WebAssembly has none outside relaxed SIMD).

/// Four f32 lanes: SIMD128 in the page, plain arrays elsewhere (tests), with the same rounding.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[derive(Clone, Copy)]
pub struct F4(core::arch::wasm32::v128);

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl F4 {
    pub fn zero() -> Self {
        Self(core::arch::wasm32::f32x4_splat(0.0))
    }
    pub fn load(v: &[f32]) -> Self {
        assert!(v.len() >= 4);
        // SAFETY: four floats are in bounds; v128 loads need no alignment.
        unsafe { Self::load_ptr(v.as_ptr()) }
    }
    #[inline(always)]
    pub unsafe fn load_ptr(p: *const f32) -> Self {
        // SAFETY: the caller's (four floats at p).
        Self(unsafe { core::arch::wasm32::v128_load(p.cast()) })
    }
    #[inline(always)]
    pub unsafe fn splat_ptr(p: *const f32) -> Self {
        // SAFETY: the caller's (one float at p).
        Self(unsafe { core::arch::wasm32::v128_load32_splat(p.cast()) })
    }
    /// `self + a * b`, rounded after the multiply and after the add.
    #[inline(always)]
    pub fn add_mul(self, a: Self, b: Self) -> Self {
        use core::arch::wasm32::{f32x4_add, f32x4_mul};
        Self(f32x4_add(self.0, f32x4_mul(a.0, b.0)))
    }
    #[inline(always)]
    pub unsafe fn store_ptr(self, p: *mut f32) {
        // SAFETY: the caller's (four floats at p).
        unsafe { core::arch::wasm32::v128_store(p.cast(), self.0) }
    }
    /// The four lanes.
    #[inline(always)]
    pub fn to_array(self) -> [f32; 4] {
        use core::arch::wasm32::f32x4_extract_lane as lane;
        [lane::<0>(self.0), lane::<1>(self.0), lane::<2>(self.0), lane::<3>(self.0)]
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[derive(Clone, Copy)]
pub struct F4([f32; 4]);

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
impl F4 {
    pub fn zero() -> Self {
        Self([0.0; 4])
    }
    pub fn load(v: &[f32]) -> Self {
        Self([v[0], v[1], v[2], v[3]])
    }
    #[inline(always)]
    pub unsafe fn load_ptr(p: *const f32) -> Self {
        // SAFETY: the caller's (four floats at p).
        Self(unsafe { p.cast::<[f32; 4]>().read_unaligned() })
    }
    #[inline(always)]
    pub unsafe fn splat_ptr(p: *const f32) -> Self {
        // SAFETY: the caller's (one float at p).
        Self([unsafe { p.read() }; 4])
    }
    /// `self + a * b`, rounded after the multiply and after the add.
    #[inline(always)]
    pub fn add_mul(self, a: Self, b: Self) -> Self {
        Self(std::array::from_fn(|i| self.0[i] + a.0[i] * b.0[i]))
    }
    #[inline(always)]
    pub unsafe fn store_ptr(self, p: *mut f32) {
        // SAFETY: the caller's (four floats at p).
        unsafe { p.cast::<[f32; 4]>().write_unaligned(self.0) }
    }
    /// The four lanes.
    #[inline(always)]
    pub fn to_array(self) -> [f32; 4] {
        self.0
    }
}
