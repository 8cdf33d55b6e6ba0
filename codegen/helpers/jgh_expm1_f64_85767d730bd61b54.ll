; returns double total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_expm1_f64(ptr noalias nocapture writeonly initializes((0, 8)) %retptr, ptr noalias nocapture readnone %excinfo, double %arg.a0) local_unnamed_addr #0 {
B0:
  %.10.i = fcmp ogt double %arg.a0, 0x40862E42FEFA39EF
  br i1 %.10.i, label %common.ret, label %B7183.i

B7183.i:                                          ; preds = %B0
  %.27.i = fcmp olt double %arg.a0, -4.000000e+01
  br i1 %.27.i, label %common.ret, label %B7201.i

B7201.i:                                          ; preds = %B7183.i
  br label %common.ret

common.ret:                                       ; preds = %B7201.i, %B7183.i, %B0
  %_make_expm1__locals__expm1_impl_v33__vphi66_0.2.0.i = phi double [ -4.000000e+01, %B7183.i ], [ %arg.a0, %B7201.i ], [ 0x40862E42FEFA39EF, %B0 ]
  %0 = fcmp ogt double %arg.a0, 0x40862E42FEFA39EF
  %const = bitcast i64 4607182418800017408 to i64
  %.44.i = fmul double %_make_expm1__locals__expm1_impl_v33__vphi66_0.2.0.i, 0x3FF71547652B82FE
  %.45.i = fadd double %.44.i, 0x4338000000000000
  %.46.i = fadd double %.45.i, 0xC338000000000000
  %.47.i = fmul double %.46.i, 0x3FE62E42FEE00000
  %.48.i = fsub double %_make_expm1__locals__expm1_impl_v33__vphi66_0.2.0.i, %.47.i
  %.49.i = fmul double %.46.i, 0x3DEA39EF35793C76
  %.50.i = fsub double %.48.i, %.49.i
  %.51.i = fmul double %.50.i, %.50.i
  %.53.i = fmul double %.50.i, 0x3E5AF389ECFC4B9C
  %.54.i = fadd double %.53.i, 0x3E928917C89A43A7
  %.55.i = fmul double %.50.i, %.54.i
  %.56.i = fadd double %.55.i, 0x3EC71DE0DB2F6B19
  %.57.i = fmul double %.50.i, %.56.i
  %.58.i = fadd double %.57.i, 0x3EFA019B9149A41C
  %.59.i = fmul double %.50.i, %.58.i
  %.60.i = fadd double %.59.i, 0x3F2A01A01A7C2EFE
  %.61.i = fmul double %.50.i, %.60.i
  %.62.i = fadd double %.61.i, 0x3F56C16C17889EF1
  %.63.i = fmul double %.50.i, %.62.i
  %.64.i = fadd double %.63.i, 0x3F811111111109B5
  %.65.i = fmul double %.50.i, %.64.i
  %.66.i = fadd double %.65.i, 0x3FA5555555553D68
  %.67.i = fmul double %.50.i, %.66.i
  %.68.i = fadd double %.67.i, 0x3FC5555555555556
  %.69.i = fmul double %.50.i, %.68.i
  %.70.i = fadd double %.69.i, 0x3FE0000000000001
  %.71.i = fmul double %.51.i, %.70.i
  %.72.i = fadd double %.50.i, %.71.i
  %.73.i = bitcast double %.45.i to i64
  %.74.i = add i64 %.73.i, -4843621399236968448
  %.75.i = shl i64 %.73.i, 52
  %.76.i = add i64 %.75.i, %const
  %.77.i = bitcast i64 %.76.i to double
  %.78.i = fmul double %.72.i, %.77.i
  %.79.i = fadd double %.77.i, -1.000000e+00
  %.80.i = fadd double %.79.i, %.78.i
  %.84.i = fadd double %.72.i, 1.000000e+00
  %.87.i = ashr i64 %.74.i, 1
  %.88.i = sub i64 %.73.i, %.87.i
  %.89.i = shl i64 %.87.i, 52
  %.90.i = add i64 %.89.i, %const
  %.91.i = bitcast i64 %.90.i to double
  %.92.i = fmul double %.84.i, %.91.i
  %.93.i = shl i64 %.88.i, 52
  %.94.i = add i64 %.93.i, %const
  %.95.i = bitcast i64 %.94.i to double
  %.96.i = fmul double %.92.i, %.95.i
  %.100.i = fcmp one double %.77.i, 0x7FF0000000000000
  %_make_expm1__locals__expm1_impl_v33__vphi278_0.2.0.i = select i1 %.100.i, double %.80.i, double %.96.i
  %_make_expm1__locals__expm1_impl_v33__vphi298_0.2.0.i = select i1 %0, double 0x7FF0000000000000, double %_make_expm1__locals__expm1_impl_v33__vphi278_0.2.0.i
  %.148.i = fcmp oeq double %arg.a0, 0.000000e+00
  %_make_expm1__locals__expm1_impl_v33__vphi336_0.2.0.i = select i1 %.148.i, double %arg.a0, double %_make_expm1__locals__expm1_impl_v33__vphi298_0.2.0.i
  store double %_make_expm1__locals__expm1_impl_v33__vphi336_0.2.0.i, ptr %retptr, align 8
  ret i32 0
}

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
