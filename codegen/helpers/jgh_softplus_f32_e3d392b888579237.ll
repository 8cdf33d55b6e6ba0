; returns float total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_softplus_f32(ptr noalias writeonly captures(none) initializes((0, 4)) %retptr, ptr noalias readnone captures(none) %excinfo, float %arg.a0) local_unnamed_addr #0 {
B0:
  %.29.i = tail call float @llvm.fabs.f32(float %arg.a0)
  %.32.i = fneg float %.29.i
  %.58.i = fcmp ogt float %.29.i, 1.040000e+02
  %_impl__locals__softplus_impl_v57__make_exp__locals__exp_impl_v58__vphi66_0.2.0.i = select i1 %.58.i, float -1.040000e+02, float %.32.i
  %.75.i = fmul float %_impl__locals__softplus_impl_v57__make_exp__locals__exp_impl_v58__vphi66_0.2.0.i, 0x3FF7154760000000
  %.76.i = fadd float %.75.i, 0x4168000000000000
  %.77.i = fadd float %.76.i, 0xC168000000000000
  %.78.i = fmul float %.77.i, 0x3FE6300000000000
  %.79.i = fsub float %_impl__locals__softplus_impl_v57__make_exp__locals__exp_impl_v58__vphi66_0.2.0.i, %.78.i
  %.80.i = fmul float %.77.i, 0x3F2BD01060000000
  %0 = fadd float %.80.i, %.79.i
  %.82.i = fmul float %0, %0
  %.84.i = fmul float %0, 0x3F56D10FC0000000
  %.85.i = fadd float %.84.i, 0x3F8120B620000000
  %.86.i = fmul float %0, %.85.i
  %.87.i = fadd float %.86.i, 0x3FA55551A0000000
  %.88.i = fmul float %0, %.87.i
  %.89.i = fadd float %.88.i, 0x3FC5554DE0000000
  %.90.i = fmul float %0, %.89.i
  %.91.i = fadd float %.90.i, 5.000000e-01
  %.92.i = fmul float %.82.i, %.91.i
  %.93.i = fadd float %0, %.92.i
  %.94.i = fadd float %.93.i, 1.000000e+00
  %.95.i = bitcast float %.76.i to i32
  %.96.i = add i32 %.95.i, -1262485504
  %.97.i = ashr i32 %.96.i, 1
  %.98.i = sub i32 %.95.i, %.97.i
  %.99.i = shl i32 %.97.i, 23
  %.100.i = add i32 %.99.i, 1065353216
  %.101.i = bitcast i32 %.100.i to float
  %.102.i = fmul float %.94.i, %.101.i
  %.103.i = shl i32 %.98.i, 23
  %.104.i = add i32 %.103.i, 1065353216
  %.105.i = bitcast i32 %.104.i to float
  %.106.i = fmul float %.102.i, %.105.i
  %.111.i = fadd float %.106.i, 1.000000e+00
  %.120.i = fcmp oeq float %.111.i, 0.000000e+00
  br i1 %.120.i, label %common.ret, label %B395725.i

B395725.i:                                        ; preds = %B0
  %.257.i = fcmp oeq float %.111.i, 0x7FF0000000000000
  br i1 %.257.i, label %common.ret, label %B395851.i

B395851.i:                                        ; preds = %B395725.i
  br label %common.ret

common.ret:                                       ; preds = %B395851.i, %B395725.i, %B0
  %_impl__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi258_0.3.0.i = phi float [ 0x7FF8000000000000, %B395851.i ], [ 0xFFF0000000000000, %B0 ], [ 0x7FF0000000000000, %B395725.i ]
  %.159.i = fcmp olt float %.111.i, 0x3810000000000000
  %.166.i = fmul float %.111.i, 0x4170000000000000
  %_impl__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi56_0.2.0.i = select i1 %.159.i, float %.166.i, float %.111.i
  %.178.i = bitcast float %_impl__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi56_0.2.0.i to i32
  %.179.i = add i32 %.178.i, -1060439283
  %.180.i = ashr i32 %.179.i, 23
  %1 = add nsw i32 %.180.i, -24
  %_impl__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi110_0.2.0.v.i = select i1 %.159.i, i32 %1, i32 %.180.i
  %_impl__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi110_0.2.0.i = sitofp i32 %_impl__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi110_0.2.0.v.i to float
  %.241.i = fmul float %_impl__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi110_0.2.0.i, 0x3FE6300000000000
  %.181.i = and i32 %.179.i, 8388607
  %.182.i = add nuw nsw i32 %.181.i, 1060439283
  %.183.i = bitcast i32 %.182.i to float
  %.223.i = fadd float %.183.i, -1.000000e+00
  %.226.i = fadd float %.223.i, 2.000000e+00
  %.230.i = fdiv float %.223.i, %.226.i
  %.231.i = fmul float %.230.i, %.230.i
  %.233.i = fmul float %.231.i, 0x3FD2EE6100000000
  %.234.i = fadd float %.233.i, 0x3FD997C300000000
  %.235.i = fmul float %.231.i, %.234.i
  %.236.i = fadd float %.235.i, 0x3FE55555C0000000
  %.237.i = fmul float %.231.i, %.236.i
  %.238.i = fsub float %.223.i, %.237.i
  %.239.i = fmul float %.230.i, %.238.i
  %.240.i = fsub float %.223.i, %.239.i
  %.242.i = fmul float %_impl__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi110_0.2.0.i, 0x3F2BD01060000000
  %2 = fsub float %.240.i, %.242.i
  %.244.i = fadd float %.241.i, %2
  %.131.i = tail call i1 @llvm.is.fpclass.f32(float %.111.i, i32 384)
  %.116.i = fadd float %.111.i, -1.000000e+00
  %.118.i = fsub float %.106.i, %.116.i
  %.123.i = fdiv float %.118.i, %.111.i
  %.10.i = fcmp ogt float %arg.a0, 0.000000e+00
  %_impl__locals__softplus_impl_v57__vphi46_0.2.0.i = select i1 %.10.i, float %arg.a0, float 0.000000e+00
  %3 = fadd float %.123.i, %.244.i
  %.301.i = select i1 %.131.i, float %3, float %_impl__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__make_log__locals__log_impl_v61__vphi258_0.3.0.i
  %.308.i = fcmp oeq float %.106.i, 0.000000e+00
  %_impl__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__vphi140_0.2.0.i = select i1 %.308.i, float %.106.i, float %.301.i
  %.331.i = fadd float %_impl__locals__softplus_impl_v57__vphi46_0.2.0.i, %_impl__locals__softplus_impl_v57__make_log1p__locals__log1p_impl_v60__vphi140_0.2.0.i
  store float %.331.i, ptr %retptr, align 4
  ret i32 0
}

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare float @llvm.fabs.f32(float) #1

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare i1 @llvm.is.fpclass.f32(float, i32 immarg) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none) }
