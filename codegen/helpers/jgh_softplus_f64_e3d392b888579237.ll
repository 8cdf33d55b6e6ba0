; returns double total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_softplus_f64(ptr noalias writeonly captures(none) initializes((0, 8)) %retptr, ptr noalias readnone captures(none) %excinfo, double %arg.a0) local_unnamed_addr #0 {
B0:
  %const = bitcast i64 4607182418800017408 to i64
  %.29.i = tail call double @llvm.fabs.f64(double %arg.a0)
  %.32.i = fneg double %.29.i
  %.58.i = fcmp ogt double %.29.i, 7.460000e+02
  %_impl__locals__softplus_impl_v65__make_exp__locals__exp_impl_v66__vphi66_0.2.0.i = select i1 %.58.i, double -7.460000e+02, double %.32.i
  %.75.i = fmul double %_impl__locals__softplus_impl_v65__make_exp__locals__exp_impl_v66__vphi66_0.2.0.i, 0x3FF71547652B82FE
  %.76.i = fadd double %.75.i, 0x4338000000000000
  %.77.i = fadd double %.76.i, 0xC338000000000000
  %.78.i = fmul double %.77.i, 0x3FE62E42FEE00000
  %.79.i = fsub double %_impl__locals__softplus_impl_v65__make_exp__locals__exp_impl_v66__vphi66_0.2.0.i, %.78.i
  %.80.i = fmul double %.77.i, 0x3DEA39EF35793C76
  %.81.i = fsub double %.79.i, %.80.i
  %.82.i = fmul double %.81.i, %.81.i
  %.84.i = fmul double %.81.i, 0x3E5AF389ECFC4B9C
  %.85.i = fadd double %.84.i, 0x3E928917C89A43A7
  %.86.i = fmul double %.81.i, %.85.i
  %.87.i = fadd double %.86.i, 0x3EC71DE0DB2F6B19
  %.88.i = fmul double %.81.i, %.87.i
  %.89.i = fadd double %.88.i, 0x3EFA019B9149A41C
  %.90.i = fmul double %.81.i, %.89.i
  %.91.i = fadd double %.90.i, 0x3F2A01A01A7C2EFE
  %.92.i = fmul double %.81.i, %.91.i
  %.93.i = fadd double %.92.i, 0x3F56C16C17889EF1
  %.94.i = fmul double %.81.i, %.93.i
  %.95.i = fadd double %.94.i, 0x3F811111111109B5
  %.96.i = fmul double %.81.i, %.95.i
  %.97.i = fadd double %.96.i, 0x3FA5555555553D68
  %.98.i = fmul double %.81.i, %.97.i
  %.99.i = fadd double %.98.i, 0x3FC5555555555556
  %.100.i = fmul double %.81.i, %.99.i
  %.101.i = fadd double %.100.i, 0x3FE0000000000001
  %.102.i = fmul double %.82.i, %.101.i
  %.103.i = fadd double %.81.i, %.102.i
  %.104.i = fadd double %.103.i, 1.000000e+00
  %.105.i = bitcast double %.76.i to i64
  %.106.i = add i64 %.105.i, -4843621399236968448
  %.107.i = ashr i64 %.106.i, 1
  %.108.i = sub i64 %.105.i, %.107.i
  %.109.i = shl i64 %.107.i, 52
  %.110.i = add i64 %.109.i, %const
  %.111.i = bitcast i64 %.110.i to double
  %.112.i = fmul double %.104.i, %.111.i
  %.113.i = shl i64 %.108.i, 52
  %.114.i = add i64 %.113.i, %const
  %.115.i = bitcast i64 %.114.i to double
  %.116.i = fmul double %.112.i, %.115.i
  %.121.i = fadd double %.116.i, 1.000000e+00
  %.130.i = fcmp oeq double %.121.i, 0.000000e+00
  br i1 %.130.i, label %common.ret, label %B1584941.i

B1584941.i:                                       ; preds = %B0
  %.275.i = fcmp oeq double %.121.i, 0x7FF0000000000000
  br i1 %.275.i, label %common.ret, label %B1585067.i

B1585067.i:                                       ; preds = %B1584941.i
  br label %common.ret

common.ret:                                       ; preds = %B1585067.i, %B1584941.i, %B0
  %_impl__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi258_0.3.0.i = phi double [ 0x7FF8000000000000, %B1585067.i ], [ 0xFFF0000000000000, %B0 ], [ 0x7FF0000000000000, %B1584941.i ]
  %.169.i = fcmp olt double %.121.i, 0x10000000000000
  %.176.i = fmul double %.121.i, 0x4350000000000000
  %_impl__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi56_0.2.0.i = select i1 %.169.i, double %.176.i, double %.121.i
  %.188.i = bitcast double %_impl__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi56_0.2.0.i to i64
  %.189.i = add i64 %.188.i, -4604544271217802189
  %.190.i = ashr i64 %.189.i, 52
  %0 = add nsw i64 %.190.i, -54
  %_impl__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi110_0.2.0.v.i = select i1 %.169.i, i64 %0, i64 %.190.i
  %_impl__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi110_0.2.0.i = sitofp i64 %_impl__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi110_0.2.0.v.i to double
  %.259.i = fmul double %_impl__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi110_0.2.0.i, 0x3FE62E42FEE00000
  %.191.i = and i64 %.189.i, 4503599627370495
  %.192.i = add nuw nsw i64 %.191.i, 4604544271217802189
  %.193.i = bitcast i64 %.192.i to double
  %.233.i = fadd double %.193.i, -1.000000e+00
  %.236.i = fadd double %.233.i, 2.000000e+00
  %.240.i = fdiv double %.233.i, %.236.i
  %.241.i = fmul double %.240.i, %.240.i
  %.243.i = fmul double %.241.i, 0x3FC2B584AAE78A57
  %.244.i = fadd double %.243.i, 0x3FC39FE606542DDE
  %.245.i = fmul double %.241.i, %.244.i
  %.246.i = fadd double %.245.i, 0x3FC7462B4AB2EF6B
  %.247.i = fmul double %.241.i, %.246.i
  %.248.i = fadd double %.247.i, 0x3FCC71C62E5800A1
  %.249.i = fmul double %.241.i, %.248.i
  %.250.i = fadd double %.249.i, 0x3FD2492492DF148D
  %.251.i = fmul double %.241.i, %.250.i
  %.252.i = fadd double %.251.i, 0x3FD99999999952E2
  %.253.i = fmul double %.241.i, %.252.i
  %.254.i = fadd double %.253.i, 0x3FE5555555555558
  %.255.i = fmul double %.241.i, %.254.i
  %.256.i = fsub double %.233.i, %.255.i
  %.257.i = fmul double %.240.i, %.256.i
  %.258.i = fsub double %.233.i, %.257.i
  %.260.i = fmul double %_impl__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi110_0.2.0.i, 0x3DEA39EF35793C76
  %.261.i = fadd double %.260.i, %.258.i
  %.262.i = fadd double %.259.i, %.261.i
  %.141.i = tail call i1 @llvm.is.fpclass.f64(double %.121.i, i32 384)
  %.126.i = fadd double %.121.i, -1.000000e+00
  %.128.i = fsub double %.116.i, %.126.i
  %.133.i = fdiv double %.128.i, %.121.i
  %.10.i = fcmp ogt double %arg.a0, 0.000000e+00
  %_impl__locals__softplus_impl_v65__vphi46_0.2.0.i = select i1 %.10.i, double %arg.a0, double 0.000000e+00
  %1 = fadd double %.133.i, %.262.i
  %.319.i = select i1 %.141.i, double %1, double %_impl__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi258_0.3.0.i
  %.326.i = fcmp oeq double %.116.i, 0.000000e+00
  %_impl__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__vphi140_0.2.0.i = select i1 %.326.i, double %.116.i, double %.319.i
  %.349.i = fadd double %_impl__locals__softplus_impl_v65__vphi46_0.2.0.i, %_impl__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__vphi140_0.2.0.i
  store double %.349.i, ptr %retptr, align 8
  ret i32 0
}

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare double @llvm.fabs.f64(double) #1

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare i1 @llvm.is.fpclass.f64(double, i32 immarg) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none) }
