; returns float total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_log1p_f32(ptr noalias writeonly captures(none) initializes((0, 4)) %retptr, ptr noalias readnone captures(none) %excinfo, float %arg.a0) local_unnamed_addr #0 {
B0:
  %.10.i = fadd float %arg.a0, 1.000000e+00
  %.19.i = fcmp oeq float %.10.i, 0.000000e+00
  br i1 %.19.i, label %common.ret, label %B2911.i

B2911.i:                                          ; preds = %B0
  %.156.i = fcmp oeq float %.10.i, 0x7FF0000000000000
  br i1 %.156.i, label %common.ret, label %B3037.i

B3037.i:                                          ; preds = %B2911.i
  br label %common.ret

common.ret:                                       ; preds = %B3037.i, %B2911.i, %B0
  %_make_log1p__locals__log1p_impl_v19__make_log__locals__log_impl_v20__vphi258_0.3.0.i = phi float [ 0x7FF8000000000000, %B3037.i ], [ 0xFFF0000000000000, %B0 ], [ 0x7FF0000000000000, %B2911.i ]
  %.58.i = fcmp olt float %.10.i, 0x3810000000000000
  %.65.i = fmul float %.10.i, 0x4170000000000000
  %_make_log1p__locals__log1p_impl_v19__make_log__locals__log_impl_v20__vphi56_0.2.0.i = select i1 %.58.i, float %.65.i, float %.10.i
  %.77.i = bitcast float %_make_log1p__locals__log1p_impl_v19__make_log__locals__log_impl_v20__vphi56_0.2.0.i to i32
  %.78.i = add i32 %.77.i, -1060439283
  %.79.i = ashr i32 %.78.i, 23
  %0 = add nsw i32 %.79.i, -24
  %_make_log1p__locals__log1p_impl_v19__make_log__locals__log_impl_v20__vphi110_0.2.0.v.i = select i1 %.58.i, i32 %0, i32 %.79.i
  %_make_log1p__locals__log1p_impl_v19__make_log__locals__log_impl_v20__vphi110_0.2.0.i = sitofp i32 %_make_log1p__locals__log1p_impl_v19__make_log__locals__log_impl_v20__vphi110_0.2.0.v.i to float
  %.140.i = fmul float %_make_log1p__locals__log1p_impl_v19__make_log__locals__log_impl_v20__vphi110_0.2.0.i, 0x3FE6300000000000
  %.80.i = and i32 %.78.i, 8388607
  %.81.i = add nuw nsw i32 %.80.i, 1060439283
  %.82.i = bitcast i32 %.81.i to float
  %.122.i = fadd float %.82.i, -1.000000e+00
  %.125.i = fadd float %.122.i, 2.000000e+00
  %.129.i = fdiv float %.122.i, %.125.i
  %.130.i = fmul float %.129.i, %.129.i
  %.132.i = fmul float %.130.i, 0x3FD2EE6100000000
  %.133.i = fadd float %.132.i, 0x3FD997C300000000
  %.134.i = fmul float %.130.i, %.133.i
  %.135.i = fadd float %.134.i, 0x3FE55555C0000000
  %.136.i = fmul float %.130.i, %.135.i
  %.137.i = fsub float %.122.i, %.136.i
  %.138.i = fmul float %.129.i, %.137.i
  %.139.i = fsub float %.122.i, %.138.i
  %.141.i = fmul float %_make_log1p__locals__log1p_impl_v19__make_log__locals__log_impl_v20__vphi110_0.2.0.i, 0x3F2BD01060000000
  %1 = fsub float %.139.i, %.141.i
  %.143.i = fadd float %.140.i, %1
  %.30.i = tail call i1 @llvm.is.fpclass.f32(float %.10.i, i32 384)
  %.15.i = fadd float %.10.i, -1.000000e+00
  %.17.i = fsub float %arg.a0, %.15.i
  %.22.i = fdiv float %.17.i, %.10.i
  %2 = fadd float %.22.i, %.143.i
  %.200.i = select i1 %.30.i, float %2, float %_make_log1p__locals__log1p_impl_v19__make_log__locals__log_impl_v20__vphi258_0.3.0.i
  %.207.i = fcmp oeq float %arg.a0, 0.000000e+00
  %_make_log1p__locals__log1p_impl_v19__vphi140_0.2.0.i = select i1 %.207.i, float %arg.a0, float %.200.i
  store float %_make_log1p__locals__log1p_impl_v19__vphi140_0.2.0.i, ptr %retptr, align 4
  ret i32 0
}

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare i1 @llvm.is.fpclass.f32(float, i32 immarg) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none) }
