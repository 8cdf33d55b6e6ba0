; returns double total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_exp_f64(ptr noalias writeonly captures(none) initializes((0, 8)) %retptr, ptr noalias readnone captures(none) %excinfo, double %arg.a0) local_unnamed_addr #0 {
B0:
  %.10.i = fcmp ogt double %arg.a0, 7.100000e+02
  br i1 %.10.i, label %common.ret, label %B188.i

B188.i:                                           ; preds = %B0
  %.31.i = fcmp olt double %arg.a0, -7.460000e+02
  br i1 %.31.i, label %common.ret, label %B206.i

B206.i:                                           ; preds = %B188.i
  br label %common.ret

common.ret:                                       ; preds = %B206.i, %B188.i, %B0
  %_make_exp__locals__exp_impl_v7__vphi66_0.2.0.i = phi double [ -7.460000e+02, %B188.i ], [ %arg.a0, %B206.i ], [ 7.100000e+02, %B0 ]
  %const = bitcast i64 4607182418800017408 to i64
  %.48.i = fmul double %_make_exp__locals__exp_impl_v7__vphi66_0.2.0.i, 0x3FF71547652B82FE
  %.49.i = fadd double %.48.i, 0x4338000000000000
  %.50.i = fadd double %.49.i, 0xC338000000000000
  %.51.i = fmul double %.50.i, 0x3FE62E42FEE00000
  %.52.i = fsub double %_make_exp__locals__exp_impl_v7__vphi66_0.2.0.i, %.51.i
  %.53.i = fmul double %.50.i, 0x3DEA39EF35793C76
  %.54.i = fsub double %.52.i, %.53.i
  %.55.i = fmul double %.54.i, %.54.i
  %.57.i = fmul double %.54.i, 0x3E5AF389ECFC4B9C
  %.58.i = fadd double %.57.i, 0x3E928917C89A43A7
  %.59.i = fmul double %.54.i, %.58.i
  %.60.i = fadd double %.59.i, 0x3EC71DE0DB2F6B19
  %.61.i = fmul double %.54.i, %.60.i
  %.62.i = fadd double %.61.i, 0x3EFA019B9149A41C
  %.63.i = fmul double %.54.i, %.62.i
  %.64.i = fadd double %.63.i, 0x3F2A01A01A7C2EFE
  %.65.i = fmul double %.54.i, %.64.i
  %.66.i = fadd double %.65.i, 0x3F56C16C17889EF1
  %.67.i = fmul double %.54.i, %.66.i
  %.68.i = fadd double %.67.i, 0x3F811111111109B5
  %.69.i = fmul double %.54.i, %.68.i
  %.70.i = fadd double %.69.i, 0x3FA5555555553D68
  %.71.i = fmul double %.54.i, %.70.i
  %.72.i = fadd double %.71.i, 0x3FC5555555555556
  %.73.i = fmul double %.54.i, %.72.i
  %.74.i = fadd double %.73.i, 0x3FE0000000000001
  %.75.i = fmul double %.55.i, %.74.i
  %.76.i = fadd double %.54.i, %.75.i
  %.77.i = fadd double %.76.i, 1.000000e+00
  %.78.i = bitcast double %.49.i to i64
  %.79.i = add i64 %.78.i, -4843621399236968448
  %.80.i = ashr i64 %.79.i, 1
  %.81.i = sub i64 %.78.i, %.80.i
  %.82.i = shl i64 %.80.i, 52
  %.83.i = add i64 %.82.i, %const
  %.84.i = bitcast i64 %.83.i to double
  %.85.i = fmul double %.77.i, %.84.i
  %.86.i = shl i64 %.81.i, 52
  %.87.i = add i64 %.86.i, %const
  %.88.i = bitcast i64 %.87.i to double
  %.89.i = fmul double %.85.i, %.88.i
  store double %.89.i, ptr %retptr, align 8
  ret i32 0
}

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
