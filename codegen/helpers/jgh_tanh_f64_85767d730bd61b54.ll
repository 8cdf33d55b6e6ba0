; returns double total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_tanh_f64(ptr noalias nocapture writeonly initializes((0, 8)) %retptr, ptr noalias nocapture readnone %excinfo, double %arg.a0) local_unnamed_addr #0 {
B0:
  %.11.i = tail call double @llvm.fabs.f64(double %arg.a0)
  %.12.i = fmul double %.11.i, -2.000000e+00
  %.17.i = fcmp ogt double %.12.i, 0x40862E42FEFA39EF
  br i1 %.17.i, label %common.ret, label %B30313.i

B30313.i:                                         ; preds = %B0
  %.38.i = fcmp olt double %.12.i, -4.000000e+01
  br i1 %.38.i, label %common.ret, label %B30331.i

B30331.i:                                         ; preds = %B30313.i
  br label %common.ret

common.ret:                                       ; preds = %B30331.i, %B30313.i, %B0
  %_make_tanh__locals__tanh_impl_v42__make_expm1__locals__expm1_impl_v43__vphi66_0.2.0.i = phi double [ -4.000000e+01, %B30313.i ], [ %.12.i, %B30331.i ], [ 0x40862E42FEFA39EF, %B0 ]
  %.55.i = fmul double %_make_tanh__locals__tanh_impl_v42__make_expm1__locals__expm1_impl_v43__vphi66_0.2.0.i, 0x3FF71547652B82FE
  %.56.i = fadd double %.55.i, 0x4338000000000000
  %.57.i = fadd double %.56.i, 0xC338000000000000
  %.58.i = fmul double %.57.i, 0x3FE62E42FEE00000
  %.59.i = fsub double %_make_tanh__locals__tanh_impl_v42__make_expm1__locals__expm1_impl_v43__vphi66_0.2.0.i, %.58.i
  %.60.i = fmul double %.57.i, 0x3DEA39EF35793C76
  %.61.i = fsub double %.59.i, %.60.i
  %.62.i = fmul double %.61.i, %.61.i
  %.64.i = fmul double %.61.i, 0x3E5AF389ECFC4B9C
  %.65.i = fadd double %.64.i, 0x3E928917C89A43A7
  %.66.i = fmul double %.61.i, %.65.i
  %.67.i = fadd double %.66.i, 0x3EC71DE0DB2F6B19
  %.68.i = fmul double %.61.i, %.67.i
  %.69.i = fadd double %.68.i, 0x3EFA019B9149A41C
  %.70.i = fmul double %.61.i, %.69.i
  %.71.i = fadd double %.70.i, 0x3F2A01A01A7C2EFE
  %.72.i = fmul double %.61.i, %.71.i
  %.73.i = fadd double %.72.i, 0x3F56C16C17889EF1
  %.74.i = fmul double %.61.i, %.73.i
  %.75.i = fadd double %.74.i, 0x3F811111111109B5
  %.76.i = fmul double %.61.i, %.75.i
  %.77.i = fadd double %.76.i, 0x3FA5555555553D68
  %.78.i = fmul double %.61.i, %.77.i
  %.79.i = fadd double %.78.i, 0x3FC5555555555556
  %.80.i = fmul double %.61.i, %.79.i
  %.81.i = fadd double %.80.i, 0x3FE0000000000001
  %.82.i = fmul double %.62.i, %.81.i
  %.83.i = fadd double %.61.i, %.82.i
  %.84.i = bitcast double %.56.i to i64
  %.86.i = shl i64 %.84.i, 52
  %.87.i = add i64 %.86.i, 4607182418800017408
  %.88.i = bitcast i64 %.87.i to double
  %.89.i = fmul double %.83.i, %.88.i
  %.90.i = fadd double %.88.i, -1.000000e+00
  %.91.i = fadd double %.90.i, %.89.i
  %.92.i = fneg double %.91.i
  %.93.i = fadd double %.91.i, 2.000000e+00
  %.97.i = fdiv double %.92.i, %.93.i
  %.104.i = tail call double @llvm.copysign.f64(double %.97.i, double %arg.a0)
  store double %.104.i, ptr %retptr, align 8
  ret i32 0
}

; Function Attrs: nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare double @llvm.fabs.f64(double) #1

; Function Attrs: nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare double @llvm.copysign.f64(double, double) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nofree nosync nounwind speculatable willreturn memory(none) }
