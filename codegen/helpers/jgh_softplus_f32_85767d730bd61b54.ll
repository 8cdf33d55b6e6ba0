; returns float total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_softplus_f32(ptr noalias nocapture writeonly initializes((0, 4)) %retptr, ptr noalias nocapture readnone %excinfo, float %arg.a0) local_unnamed_addr #0 {
B0:
  %.29.i = tail call float @llvm.fabs.f32(float %arg.a0)
  %.32.i = fneg float %.29.i
  %.58.i = fcmp ogt float %.29.i, 1.040000e+02
  %_make_softplus__locals__softplus_impl_v57__make_exp__locals__exp_impl_v58__vphi70_0.2.0.i = select i1 %.58.i, float 0.000000e+00, float %.32.i
  %.79.i = fmul float %_make_softplus__locals__softplus_impl_v57__make_exp__locals__exp_impl_v58__vphi70_0.2.0.i, 0x3FF7154760000000
  %.80.i = fadd float %.79.i, 0x4168000000000000
  %.81.i = fadd float %.80.i, 0xC168000000000000
  %.82.i = fmul float %.81.i, 0x3FE6300000000000
  %.83.i = fsub float %_make_softplus__locals__softplus_impl_v57__make_exp__locals__exp_impl_v58__vphi70_0.2.0.i, %.82.i
  %.84.i = fmul float %.81.i, 0x3F2BD01060000000
  %0 = fadd float %.84.i, %.83.i
  %.86.i = fmul float %0, %0
  %.88.i = fmul float %0, 0x3F56D10FC0000000
  %.89.i = fadd float %.88.i, 0x3F8120B620000000
  %.90.i = fmul float %0, %.89.i
  %.91.i = fadd float %.90.i, 0x3FA55551A0000000
  %.92.i = fmul float %0, %.91.i
  %.93.i = fadd float %.92.i, 0x3FC5554DE0000000
  %.94.i = fmul float %0, %.93.i
  %.95.i = fadd float %.94.i, 5.000000e-01
  %.96.i = fmul float %.86.i, %.95.i
  %.97.i = fadd float %0, %.96.i
  %.98.i = fadd float %.97.i, 1.000000e+00
  %.99.i = bitcast float %.80.i to i32
  %.100.i = add i32 %.99.i, -1262485504
  %.101.i = ashr i32 %.100.i, 1
  %.102.i = sub i32 %.99.i, %.101.i
  %.103.i = shl i32 %.101.i, 23
  %.104.i = add i32 %.103.i, 1065353216
  %.105.i = bitcast i32 %.104.i to float
  %.106.i = fmul float %.98.i, %.105.i
  %.107.i = shl i32 %.102.i, 23
  %.108.i = add i32 %.107.i, 1065353216
  %.109.i = bitcast i32 %.108.i to float
  %.110.i = fmul float %.106.i, %.109.i
  %spec.select.i = select i1 %.58.i, float 0.000000e+00, float %.110.i
  %.137.i = fadd float %spec.select.i, 1.000000e+00
  %.146.i = fcmp oeq float %.137.i, 0.000000e+00
  br i1 %.146.i, label %common.ret, label %B492541.i

B492541.i:                                        ; preds = %B0
  %.283.i = fcmp oeq float %.137.i, 0x7FF0000000000000
  br i1 %.283.i, label %common.ret, label %B492667.i

B492667.i:                                        ; preds = %B492541.i
  br label %common.ret

common.ret:                                       ; preds = %B492667.i, %B492541.i, %B0
  %_make_softplus__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi258_0.3.0.i = phi float [ 0x7FF8000000000000, %B492667.i ], [ 0xFFF0000000000000, %B0 ], [ 0x7FF0000000000000, %B492541.i ]
  %.185.i = fcmp olt float %.137.i, 0x3810000000000000
  %.192.i = fmul float %.137.i, 0x4170000000000000
  %_make_softplus__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi56_0.2.0.i = select i1 %.185.i, float %.192.i, float %.137.i
  %.204.i = bitcast float %_make_softplus__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi56_0.2.0.i to i32
  %.205.i = add i32 %.204.i, -1060439283
  %.206.i = ashr i32 %.205.i, 23
  %1 = add nsw i32 %.206.i, -24
  %_make_softplus__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi110_0.2.0.v.i = select i1 %.185.i, i32 %1, i32 %.206.i
  %_make_softplus__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi110_0.2.0.i = sitofp i32 %_make_softplus__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi110_0.2.0.v.i to float
  %.267.i = fmul float %_make_softplus__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi110_0.2.0.i, 0x3FE6300000000000
  %.207.i = and i32 %.205.i, 8388607
  %.208.i = add nuw nsw i32 %.207.i, 1060439283
  %.209.i = bitcast i32 %.208.i to float
  %.249.i = fadd float %.209.i, -1.000000e+00
  %.252.i = fadd float %.249.i, 2.000000e+00
  %.256.i = fdiv float %.249.i, %.252.i
  %.257.i = fmul float %.256.i, %.256.i
  %.259.i = fmul float %.257.i, 0x3FD2EE6100000000
  %.260.i = fadd float %.259.i, 0x3FD997C300000000
  %.261.i = fmul float %.257.i, %.260.i
  %.262.i = fadd float %.261.i, 0x3FE55555C0000000
  %.263.i = fmul float %.257.i, %.262.i
  %.264.i = fsub float %.249.i, %.263.i
  %.265.i = fmul float %.256.i, %.264.i
  %.266.i = fsub float %.249.i, %.265.i
  %.268.i = fmul float %_make_softplus__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi110_0.2.0.i, 0x3F2BD01060000000
  %2 = fsub float %.266.i, %.268.i
  %.270.i = fadd float %.267.i, %2
  %.157.i = tail call i1 @llvm.is.fpclass.f32(float %.137.i, i32 384)
  %.142.i = fadd float %.137.i, -1.000000e+00
  %.144.i = fsub float %spec.select.i, %.142.i
  %.149.i = fdiv float %.144.i, %.137.i
  %.10.i = fcmp ogt float %arg.a0, 0.000000e+00
  %_make_softplus__locals__softplus_impl_v57__vphi46_0.2.0.i = select i1 %.10.i, float %arg.a0, float 0.000000e+00
  %3 = fadd float %.149.i, %.270.i
  %.327.i = select i1 %.157.i, float %3, float %_make_softplus__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi258_0.3.0.i
  %.334.i = fcmp oeq float %spec.select.i, 0.000000e+00
  %_make_softplus__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__vphi140_0.2.0.i = select i1 %.334.i, float %spec.select.i, float %.327.i
  %.357.i = fadd float %_make_softplus__locals__softplus_impl_v57__vphi46_0.2.0.i, %_make_softplus__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__vphi140_0.2.0.i
  store float %.357.i, ptr %retptr, align 4
  ret i32 0
}

; Function Attrs: nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare float @llvm.fabs.f32(float) #1

; Function Attrs: nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare i1 @llvm.is.fpclass.f32(float, i32 immarg) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nofree nosync nounwind speculatable willreturn memory(none) }
