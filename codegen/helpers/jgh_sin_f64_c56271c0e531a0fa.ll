; returns double total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_sin_f64(ptr noalias writeonly captures(none) initializes((0, 8)) %retptr, ptr noalias readnone captures(none) %excinfo, double %arg.a0) local_unnamed_addr #0 {
common.ret:
  %.10.i = tail call double @llvm.fabs.f64(double %arg.a0)
  %.11.i = fcmp olt double %.10.i, 0x4320000000000000
  %_make_sincos__locals__sc_impl_v78__vphi72_0.2.0.i = select i1 %.11.i, double %arg.a0, double 0x7FF8000000000000
  %.24.i = fmul double %_make_sincos__locals__sc_impl_v78__vphi72_0.2.0.i, 0x3FE45F306DC9C883
  %.25.i = fadd double %.24.i, 0x4338000000000000
  %.26.i = fadd double %.25.i, 0xC338000000000000
  %.27.i = fmul double %.26.i, 0x3FF921FB54400000
  %.28.i = fsub double %_make_sincos__locals__sc_impl_v78__vphi72_0.2.0.i, %.27.i
  %.29.i = fmul double %.26.i, 0x3DD0B4611A600000
  %.30.i = fsub double %.28.i, %.29.i
  %.31.i = fmul double %.26.i, 0x3BA3198A2E037073
  %.32.i = fsub double %.30.i, %.31.i
  %.33.i = fmul double %.32.i, %.32.i
  %.34.i = fmul double %.32.i, %.33.i
  %.36.i = fmul double %.33.i, 0x3DE5E0B19F8B1451
  %.37.i = fadd double %.36.i, 0xBE5AE600B02B6262
  %.38.i = fmul double %.33.i, %.37.i
  %.39.i = fadd double %.38.i, 0x3EC71DE37968A100
  %.40.i = fmul double %.33.i, %.39.i
  %.41.i = fadd double %.40.i, 0xBF2A01A019E83AAE
  %.42.i = fmul double %.33.i, %.41.i
  %.43.i = fadd double %.42.i, 0x3F81111111110BB2
  %.44.i = fmul double %.33.i, %.43.i
  %.45.i = fadd double %.44.i, 0xBFC5555555555555
  %.46.i = fmul double %.34.i, %.45.i
  %.47.i = fadd double %.32.i, %.46.i
  %.48.i = fmul double %.33.i, 5.000000e-01
  %.49.i = fsub double 1.000000e+00, %.48.i
  %.50.i = fmul double %.33.i, %.33.i
  %.52.i = fmul double %.33.i, 0x3DA907DA367A37CB
  %0 = fsub double 0x3E21EEB68E93B64C, %.52.i
  %.54.i = fmul double %.33.i, %0
  %.55.i = fadd double %.54.i, 0xBE927E4FA17DA09E
  %.56.i = fmul double %.33.i, %.55.i
  %.57.i = fadd double %.56.i, 0x3EFA01A019F4EB01
  %.58.i = fmul double %.33.i, %.57.i
  %.59.i = fadd double %.58.i, 0xBF56C16C16C16967
  %.60.i = fmul double %.33.i, %.59.i
  %.61.i = fadd double %.60.i, 0x3FA5555555555555
  %.62.i = fmul double %.50.i, %.61.i
  %.63.i = fadd double %.49.i, %.62.i
  %.64.i = bitcast double %.25.i to i64
  %.67.i = and i64 %.64.i, 1
  %.68.not.i = icmp eq i64 %.67.i, 0
  %.69.i = select i1 %.68.not.i, double %.47.i, double %.63.i
  %.70.i = shl i64 %.64.i, 62
  %.71.i = and i64 %.70.i, -9223372036854775808
  %.72.i = bitcast double %.69.i to i64
  %.73.i = xor i64 %.71.i, %.72.i
  %.74.i = bitcast i64 %.73.i to double
  %.80.i = fcmp oeq double %arg.a0, 0.000000e+00
  %_make_sincos__locals__sc_impl_v78__vphi328_0.2.0.i = select i1 %.80.i, double %arg.a0, double %.74.i
  store double %_make_sincos__locals__sc_impl_v78__vphi328_0.2.0.i, ptr %retptr, align 8
  ret i32 0
}

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare double @llvm.fabs.f64(double) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none) }
