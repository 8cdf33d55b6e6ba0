; returns double total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_softplus_f64(ptr noalias nocapture writeonly initializes((0, 8)) %retptr, ptr noalias nocapture readnone %excinfo, double %arg.a0) local_unnamed_addr #0 {
B0:
  %const = bitcast i64 4607182418800017408 to i64
  %.29.i = tail call double @llvm.fabs.f64(double %arg.a0)
  %.32.i = fneg double %.29.i
  %.58.i = fcmp ogt double %.29.i, 7.460000e+02
  %_make_softplus__locals__softplus_impl_v65__make_exp__locals__exp_impl_v66__vphi70_0.2.0.i = select i1 %.58.i, double 0.000000e+00, double %.32.i
  %.79.i = fmul double %_make_softplus__locals__softplus_impl_v65__make_exp__locals__exp_impl_v66__vphi70_0.2.0.i, 0x3FF71547652B82FE
  %.80.i = fadd double %.79.i, 0x4338000000000000
  %.81.i = fadd double %.80.i, 0xC338000000000000
  %.82.i = fmul double %.81.i, 0x3FE62E42FEE00000
  %.83.i = fsub double %_make_softplus__locals__softplus_impl_v65__make_exp__locals__exp_impl_v66__vphi70_0.2.0.i, %.82.i
  %.84.i = fmul double %.81.i, 0x3DEA39EF35793C76
  %.85.i = fsub double %.83.i, %.84.i
  %.86.i = fmul double %.85.i, %.85.i
  %.88.i = fmul double %.85.i, 0x3E5AF389ECFC4B9C
  %.89.i = fadd double %.88.i, 0x3E928917C89A43A7
  %.90.i = fmul double %.85.i, %.89.i
  %.91.i = fadd double %.90.i, 0x3EC71DE0DB2F6B19
  %.92.i = fmul double %.85.i, %.91.i
  %.93.i = fadd double %.92.i, 0x3EFA019B9149A41C
  %.94.i = fmul double %.85.i, %.93.i
  %.95.i = fadd double %.94.i, 0x3F2A01A01A7C2EFE
  %.96.i = fmul double %.85.i, %.95.i
  %.97.i = fadd double %.96.i, 0x3F56C16C17889EF1
  %.98.i = fmul double %.85.i, %.97.i
  %.99.i = fadd double %.98.i, 0x3F811111111109B5
  %.100.i = fmul double %.85.i, %.99.i
  %.101.i = fadd double %.100.i, 0x3FA5555555553D68
  %.102.i = fmul double %.85.i, %.101.i
  %.103.i = fadd double %.102.i, 0x3FC5555555555556
  %.104.i = fmul double %.85.i, %.103.i
  %.105.i = fadd double %.104.i, 0x3FE0000000000001
  %.106.i = fmul double %.86.i, %.105.i
  %.107.i = fadd double %.85.i, %.106.i
  %.108.i = fadd double %.107.i, 1.000000e+00
  %.109.i = bitcast double %.80.i to i64
  %.110.i = add i64 %.109.i, -4843621399236968448
  %.111.i = ashr i64 %.110.i, 1
  %.112.i = sub i64 %.109.i, %.111.i
  %.113.i = shl i64 %.111.i, 52
  %.114.i = add i64 %.113.i, %const
  %.115.i = bitcast i64 %.114.i to double
  %.116.i = fmul double %.108.i, %.115.i
  %.117.i = shl i64 %.112.i, 52
  %.118.i = add i64 %.117.i, %const
  %.119.i = bitcast i64 %.118.i to double
  %.120.i = fmul double %.116.i, %.119.i
  %spec.select.i = select i1 %.58.i, double 0.000000e+00, double %.120.i
  %.147.i = fadd double %spec.select.i, 1.000000e+00
  %.156.i = fcmp oeq double %.147.i, 0.000000e+00
  br i1 %.156.i, label %common.ret, label %B1972797.i

B1972797.i:                                       ; preds = %B0
  %.301.i = fcmp oeq double %.147.i, 0x7FF0000000000000
  br i1 %.301.i, label %common.ret, label %B1972923.i

B1972923.i:                                       ; preds = %B1972797.i
  br label %common.ret

common.ret:                                       ; preds = %B1972923.i, %B1972797.i, %B0
  %_make_softplus__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi258_0.3.0.i = phi double [ 0x7FF8000000000000, %B1972923.i ], [ 0xFFF0000000000000, %B0 ], [ 0x7FF0000000000000, %B1972797.i ]
  %.195.i = fcmp olt double %.147.i, 0x10000000000000
  %.202.i = fmul double %.147.i, 0x4350000000000000
  %_make_softplus__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi56_0.2.0.i = select i1 %.195.i, double %.202.i, double %.147.i
  %.214.i = bitcast double %_make_softplus__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi56_0.2.0.i to i64
  %.215.i = add i64 %.214.i, -4604544271217802189
  %.216.i = ashr i64 %.215.i, 52
  %0 = add nsw i64 %.216.i, -54
  %_make_softplus__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi110_0.2.0.v.i = select i1 %.195.i, i64 %0, i64 %.216.i
  %_make_softplus__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi110_0.2.0.i = sitofp i64 %_make_softplus__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi110_0.2.0.v.i to double
  %.285.i = fmul double %_make_softplus__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi110_0.2.0.i, 0x3FE62E42FEE00000
  %.217.i = and i64 %.215.i, 4503599627370495
  %.218.i = add nuw nsw i64 %.217.i, 4604544271217802189
  %.219.i = bitcast i64 %.218.i to double
  %.259.i = fadd double %.219.i, -1.000000e+00
  %.262.i = fadd double %.259.i, 2.000000e+00
  %.266.i = fdiv double %.259.i, %.262.i
  %.267.i = fmul double %.266.i, %.266.i
  %.269.i = fmul double %.267.i, 0x3FC2B584AAE78A57
  %.270.i = fadd double %.269.i, 0x3FC39FE606542DDE
  %.271.i = fmul double %.267.i, %.270.i
  %.272.i = fadd double %.271.i, 0x3FC7462B4AB2EF6B
  %.273.i = fmul double %.267.i, %.272.i
  %.274.i = fadd double %.273.i, 0x3FCC71C62E5800A1
  %.275.i = fmul double %.267.i, %.274.i
  %.276.i = fadd double %.275.i, 0x3FD2492492DF148D
  %.277.i = fmul double %.267.i, %.276.i
  %.278.i = fadd double %.277.i, 0x3FD99999999952E2
  %.279.i = fmul double %.267.i, %.278.i
  %.280.i = fadd double %.279.i, 0x3FE5555555555558
  %.281.i = fmul double %.267.i, %.280.i
  %.282.i = fsub double %.259.i, %.281.i
  %.283.i = fmul double %.266.i, %.282.i
  %.284.i = fsub double %.259.i, %.283.i
  %.286.i = fmul double %_make_softplus__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi110_0.2.0.i, 0x3DEA39EF35793C76
  %.287.i = fadd double %.286.i, %.284.i
  %.288.i = fadd double %.285.i, %.287.i
  %.167.i = tail call i1 @llvm.is.fpclass.f64(double %.147.i, i32 384)
  %.152.i = fadd double %.147.i, -1.000000e+00
  %.154.i = fsub double %spec.select.i, %.152.i
  %.159.i = fdiv double %.154.i, %.147.i
  %.10.i = fcmp ogt double %arg.a0, 0.000000e+00
  %_make_softplus__locals__softplus_impl_v65__vphi46_0.2.0.i = select i1 %.10.i, double %arg.a0, double 0.000000e+00
  %1 = fadd double %.159.i, %.288.i
  %.345.i = select i1 %.167.i, double %1, double %_make_softplus__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__make_log__locals__log_impl_v69__vphi258_0.3.0.i
  %.352.i = fcmp oeq double %spec.select.i, 0.000000e+00
  %_make_softplus__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__vphi140_0.2.0.i = select i1 %.352.i, double %spec.select.i, double %.345.i
  %.375.i = fadd double %_make_softplus__locals__softplus_impl_v65__vphi46_0.2.0.i, %_make_softplus__locals__softplus_impl_v65__make_log1p__locals__log1p_impl_v68__vphi140_0.2.0.i
  store double %.375.i, ptr %retptr, align 8
  ret i32 0
}

; Function Attrs: nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare double @llvm.fabs.f64(double) #1

; Function Attrs: nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare i1 @llvm.is.fpclass.f64(double, i32 immarg) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nofree nosync nounwind speculatable willreturn memory(none) }
