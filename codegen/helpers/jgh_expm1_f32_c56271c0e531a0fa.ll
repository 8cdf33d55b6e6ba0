; returns float total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_expm1_f32(ptr noalias writeonly captures(none) initializes((0, 4)) %retptr, ptr noalias readnone captures(none) %excinfo, float %arg.a0) local_unnamed_addr #0 {
B0:
  %.10.i = fcmp ogt float %arg.a0, 0x40562E4300000000
  br i1 %.10.i, label %common.ret, label %B6841.i

B6841.i:                                          ; preds = %B0
  %.27.i = fcmp olt float %arg.a0, -1.800000e+01
  br i1 %.27.i, label %common.ret, label %B6859.i

B6859.i:                                          ; preds = %B6841.i
  br label %common.ret

common.ret:                                       ; preds = %B6859.i, %B6841.i, %B0
  %_make_expm1__locals__expm1_impl_v29__vphi66_0.2.0.i = phi float [ -1.800000e+01, %B6841.i ], [ %arg.a0, %B6859.i ], [ 0x40562E4300000000, %B0 ]
  %0 = fcmp ogt float %arg.a0, 0x40562E4300000000
  %.44.i = fmul float %_make_expm1__locals__expm1_impl_v29__vphi66_0.2.0.i, 0x3FF7154760000000
  %.45.i = fadd float %.44.i, 0x4168000000000000
  %.46.i = fadd float %.45.i, 0xC168000000000000
  %.47.i = fmul float %.46.i, 0x3FE6300000000000
  %.48.i = fsub float %_make_expm1__locals__expm1_impl_v29__vphi66_0.2.0.i, %.47.i
  %.49.i = fmul float %.46.i, 0x3F2BD01060000000
  %1 = fadd float %.49.i, %.48.i
  %.51.i = fmul float %1, %1
  %.53.i = fmul float %1, 0x3F56D10FC0000000
  %.54.i = fadd float %.53.i, 0x3F8120B620000000
  %.55.i = fmul float %1, %.54.i
  %.56.i = fadd float %.55.i, 0x3FA55551A0000000
  %.57.i = fmul float %1, %.56.i
  %.58.i = fadd float %.57.i, 0x3FC5554DE0000000
  %.59.i = fmul float %1, %.58.i
  %.60.i = fadd float %.59.i, 5.000000e-01
  %.61.i = fmul float %.51.i, %.60.i
  %.62.i = fadd float %1, %.61.i
  %.63.i = bitcast float %.45.i to i32
  %.64.i = add i32 %.63.i, -1262485504
  %.65.i = shl i32 %.63.i, 23
  %.66.i = add i32 %.65.i, 1065353216
  %.67.i = bitcast i32 %.66.i to float
  %.68.i = fmul float %.62.i, %.67.i
  %.69.i = fadd float %.67.i, -1.000000e+00
  %.70.i = fadd float %.69.i, %.68.i
  %.74.i = fadd float %.62.i, 1.000000e+00
  %.77.i = ashr i32 %.64.i, 1
  %.78.i = sub i32 %.63.i, %.77.i
  %.79.i = shl i32 %.77.i, 23
  %.80.i = add i32 %.79.i, 1065353216
  %.81.i = bitcast i32 %.80.i to float
  %.82.i = fmul float %.74.i, %.81.i
  %.83.i = shl i32 %.78.i, 23
  %.84.i = add i32 %.83.i, 1065353216
  %.85.i = bitcast i32 %.84.i to float
  %.86.i = fmul float %.82.i, %.85.i
  %.90.i = fcmp one float %.67.i, 0x7FF0000000000000
  %_make_expm1__locals__expm1_impl_v29__vphi278_0.2.0.i = select i1 %.90.i, float %.70.i, float %.86.i
  %_make_expm1__locals__expm1_impl_v29__vphi298_0.2.0.i = select i1 %0, float 0x7FF0000000000000, float %_make_expm1__locals__expm1_impl_v29__vphi278_0.2.0.i
  %.138.i = fcmp oeq float %arg.a0, 0.000000e+00
  %_make_expm1__locals__expm1_impl_v29__vphi336_0.2.0.i = select i1 %.138.i, float %arg.a0, float %_make_expm1__locals__expm1_impl_v29__vphi298_0.2.0.i
  store float %_make_expm1__locals__expm1_impl_v29__vphi336_0.2.0.i, ptr %retptr, align 4
  ret i32 0
}

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
