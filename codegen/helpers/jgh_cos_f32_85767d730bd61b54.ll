; returns float total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_cos_f32(ptr noalias nocapture writeonly initializes((0, 4)) %retptr, ptr noalias nocapture readnone %excinfo, float %arg.a0) local_unnamed_addr #0 {
common.ret:
  %.10.i = tail call float @llvm.fabs.f32(float %arg.a0)
  %.11.i = fcmp olt float %.10.i, 0x4150000000000000
  %_make_sincos__locals__sc_impl_v83__vphi72_0.2.0.i = select i1 %.11.i, float %arg.a0, float 0x7FF8000000000000
  %.24.i = fmul float %_make_sincos__locals__sc_impl_v83__vphi72_0.2.0.i, 0x3FE45F3060000000
  %.25.i = fadd float %.24.i, 0x4168000000000000
  %.26.i = fadd float %.25.i, 0xC168000000000000
  %.27.i = fmul float %.26.i, 0x3FF9200000000000
  %.28.i = fsub float %_make_sincos__locals__sc_impl_v83__vphi72_0.2.0.i, %.27.i
  %.29.i = fmul float %.26.i, 0x3F3FB40000000000
  %.30.i = fsub float %.28.i, %.29.i
  %.31.i = fmul float %.26.i, 0x3E74442D20000000
  %.32.i = fsub float %.30.i, %.31.i
  %.33.i = fmul float %.32.i, %.32.i
  %.34.i = fmul float %.32.i, %.33.i
  %.36.i = fmul float %.33.i, 0x3F29AC9B00000000
  %0 = fsub float 0x3F8110C280000000, %.36.i
  %.38.i = fmul float %.33.i, %0
  %.39.i = fadd float %.38.i, 0xBFC5555520000000
  %.40.i = fmul float %.34.i, %.39.i
  %.41.i = fadd float %.32.i, %.40.i
  %.42.i = fmul float %.33.i, 5.000000e-01
  %.43.i = fsub float 1.000000e+00, %.42.i
  %.44.i = fmul float %.33.i, %.33.i
  %.46.i = fmul float %.33.i, 0x3EF9BD89C0000000
  %.47.i = fadd float %.46.i, 0xBF56C12D20000000
  %.48.i = fmul float %.33.i, %.47.i
  %.49.i = fadd float %.48.i, 0x3FA5555540000000
  %.50.i = fmul float %.44.i, %.49.i
  %.51.i = fadd float %.43.i, %.50.i
  %.53.i = bitcast float %.25.i to i32
  %.55.i = add i32 %.53.i, -1262485503
  %.56.i = and i32 %.55.i, 1
  %.57.not.i = icmp eq i32 %.56.i, 0
  %.58.i = select i1 %.57.not.i, float %.41.i, float %.51.i
  %.59.i = shl i32 %.55.i, 30
  %.60.i = and i32 %.59.i, -2147483648
  %.61.i = bitcast float %.58.i to i32
  %.62.i = xor i32 %.60.i, %.61.i
  store i32 %.62.i, ptr %retptr, align 4
  ret i32 0
}

; Function Attrs: nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare float @llvm.fabs.f32(float) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nofree nosync nounwind speculatable willreturn memory(none) }
