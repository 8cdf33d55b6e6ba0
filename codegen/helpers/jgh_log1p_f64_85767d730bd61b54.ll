; returns double total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_log1p_f64(ptr noalias nocapture writeonly initializes((0, 8)) %retptr, ptr noalias nocapture readnone %excinfo, double %arg.a0) local_unnamed_addr #0 {
B0:
  %.10.i = fadd double %arg.a0, 1.000000e+00
  %.19.i = fcmp oeq double %.10.i, 0.000000e+00
  br i1 %.19.i, label %common.ret, label %B6605.i

B6605.i:                                          ; preds = %B0
  %.164.i = fcmp oeq double %.10.i, 0x7FF0000000000000
  br i1 %.164.i, label %common.ret, label %B6731.i

B6731.i:                                          ; preds = %B6605.i
  br label %common.ret

common.ret:                                       ; preds = %B6731.i, %B6605.i, %B0
  %_make_log1p__locals__log1p_impl_v24__make_log__locals__log_impl_v25__vphi258_0.3.0.i = phi double [ 0x7FF8000000000000, %B6731.i ], [ 0xFFF0000000000000, %B0 ], [ 0x7FF0000000000000, %B6605.i ]
  %.58.i = fcmp olt double %.10.i, 0x10000000000000
  %.65.i = fmul double %.10.i, 0x4350000000000000
  %_make_log1p__locals__log1p_impl_v24__make_log__locals__log_impl_v25__vphi56_0.2.0.i = select i1 %.58.i, double %.65.i, double %.10.i
  %.77.i = bitcast double %_make_log1p__locals__log1p_impl_v24__make_log__locals__log_impl_v25__vphi56_0.2.0.i to i64
  %.78.i = add i64 %.77.i, -4604544271217802189
  %.79.i = ashr i64 %.78.i, 52
  %0 = add nsw i64 %.79.i, -54
  %_make_log1p__locals__log1p_impl_v24__make_log__locals__log_impl_v25__vphi110_0.2.0.v.i = select i1 %.58.i, i64 %0, i64 %.79.i
  %_make_log1p__locals__log1p_impl_v24__make_log__locals__log_impl_v25__vphi110_0.2.0.i = sitofp i64 %_make_log1p__locals__log1p_impl_v24__make_log__locals__log_impl_v25__vphi110_0.2.0.v.i to double
  %.148.i = fmul double %_make_log1p__locals__log1p_impl_v24__make_log__locals__log_impl_v25__vphi110_0.2.0.i, 0x3FE62E42FEE00000
  %.80.i = and i64 %.78.i, 4503599627370495
  %.81.i = add nuw nsw i64 %.80.i, 4604544271217802189
  %.82.i = bitcast i64 %.81.i to double
  %.122.i = fadd double %.82.i, -1.000000e+00
  %.125.i = fadd double %.122.i, 2.000000e+00
  %.129.i = fdiv double %.122.i, %.125.i
  %.130.i = fmul double %.129.i, %.129.i
  %.132.i = fmul double %.130.i, 0x3FC2B584AAE78A57
  %.133.i = fadd double %.132.i, 0x3FC39FE606542DDE
  %.134.i = fmul double %.130.i, %.133.i
  %.135.i = fadd double %.134.i, 0x3FC7462B4AB2EF6B
  %.136.i = fmul double %.130.i, %.135.i
  %.137.i = fadd double %.136.i, 0x3FCC71C62E5800A1
  %.138.i = fmul double %.130.i, %.137.i
  %.139.i = fadd double %.138.i, 0x3FD2492492DF148D
  %.140.i = fmul double %.130.i, %.139.i
  %.141.i = fadd double %.140.i, 0x3FD99999999952E2
  %.142.i = fmul double %.130.i, %.141.i
  %.143.i = fadd double %.142.i, 0x3FE5555555555558
  %.144.i = fmul double %.130.i, %.143.i
  %.145.i = fsub double %.122.i, %.144.i
  %.146.i = fmul double %.129.i, %.145.i
  %.147.i = fsub double %.122.i, %.146.i
  %.149.i = fmul double %_make_log1p__locals__log1p_impl_v24__make_log__locals__log_impl_v25__vphi110_0.2.0.i, 0x3DEA39EF35793C76
  %.150.i = fadd double %.149.i, %.147.i
  %.151.i = fadd double %.148.i, %.150.i
  %.30.i = tail call i1 @llvm.is.fpclass.f64(double %.10.i, i32 384)
  %.15.i = fadd double %.10.i, -1.000000e+00
  %.17.i = fsub double %arg.a0, %.15.i
  %.22.i = fdiv double %.17.i, %.10.i
  %1 = fadd double %.22.i, %.151.i
  %.208.i = select i1 %.30.i, double %1, double %_make_log1p__locals__log1p_impl_v24__make_log__locals__log_impl_v25__vphi258_0.3.0.i
  %.215.i = fcmp oeq double %arg.a0, 0.000000e+00
  %_make_log1p__locals__log1p_impl_v24__vphi140_0.2.0.i = select i1 %.215.i, double %arg.a0, double %.208.i
  store double %_make_log1p__locals__log1p_impl_v24__vphi140_0.2.0.i, ptr %retptr, align 8
  ret i32 0
}

; Function Attrs: nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare i1 @llvm.is.fpclass.f64(double, i32 immarg) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nofree nosync nounwind speculatable willreturn memory(none) }
