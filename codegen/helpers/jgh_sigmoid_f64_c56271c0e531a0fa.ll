; returns double total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_sigmoid_f64(ptr noalias writeonly captures(none) initializes((0, 8)) %retptr, ptr noalias readnone captures(none) %excinfo, double %arg.a0) local_unnamed_addr #0 {
common.ret:
  %const = bitcast i64 4607182418800017408 to i64
  %.11.i = tail call double @llvm.fabs.f64(double %arg.a0)
  %.12.i = fneg double %.11.i
  %.38.i = fcmp ogt double %.11.i, 7.460000e+02
  %_make_sigmoid__locals__sigmoid_impl_v52__make_exp__locals__exp_impl_v53__vphi70_0.2.0.i = select i1 %.38.i, double 0.000000e+00, double %.12.i
  %.59.i = fmul double %_make_sigmoid__locals__sigmoid_impl_v52__make_exp__locals__exp_impl_v53__vphi70_0.2.0.i, 0x3FF71547652B82FE
  %.60.i = fadd double %.59.i, 0x4338000000000000
  %.61.i = fadd double %.60.i, 0xC338000000000000
  %.62.i = fmul double %.61.i, 0x3FE62E42FEE00000
  %.63.i = fsub double %_make_sigmoid__locals__sigmoid_impl_v52__make_exp__locals__exp_impl_v53__vphi70_0.2.0.i, %.62.i
  %.64.i = fmul double %.61.i, 0x3DEA39EF35793C76
  %.65.i = fsub double %.63.i, %.64.i
  %.66.i = fmul double %.65.i, %.65.i
  %.68.i = fmul double %.65.i, 0x3E5AF389ECFC4B9C
  %.69.i = fadd double %.68.i, 0x3E928917C89A43A7
  %.70.i = fmul double %.65.i, %.69.i
  %.71.i = fadd double %.70.i, 0x3EC71DE0DB2F6B19
  %.72.i = fmul double %.65.i, %.71.i
  %.73.i = fadd double %.72.i, 0x3EFA019B9149A41C
  %.74.i = fmul double %.65.i, %.73.i
  %.75.i = fadd double %.74.i, 0x3F2A01A01A7C2EFE
  %.76.i = fmul double %.65.i, %.75.i
  %.77.i = fadd double %.76.i, 0x3F56C16C17889EF1
  %.78.i = fmul double %.65.i, %.77.i
  %.79.i = fadd double %.78.i, 0x3F811111111109B5
  %.80.i = fmul double %.65.i, %.79.i
  %.81.i = fadd double %.80.i, 0x3FA5555555553D68
  %.82.i = fmul double %.65.i, %.81.i
  %.83.i = fadd double %.82.i, 0x3FC5555555555556
  %.84.i = fmul double %.65.i, %.83.i
  %.85.i = fadd double %.84.i, 0x3FE0000000000001
  %.86.i = fmul double %.66.i, %.85.i
  %.87.i = fadd double %.65.i, %.86.i
  %.88.i = fadd double %.87.i, 1.000000e+00
  %.89.i = bitcast double %.60.i to i64
  %.90.i = add i64 %.89.i, -4843621399236968448
  %.91.i = ashr i64 %.90.i, 1
  %.92.i = sub i64 %.89.i, %.91.i
  %.93.i = shl i64 %.91.i, 52
  %.94.i = add i64 %.93.i, %const
  %.95.i = bitcast i64 %.94.i to double
  %.96.i = fmul double %.88.i, %.95.i
  %.97.i = shl i64 %.92.i, 52
  %.98.i = add i64 %.97.i, %const
  %.99.i = bitcast i64 %.98.i to double
  %.100.i = fmul double %.96.i, %.99.i
  %spec.select.i = select i1 %.38.i, double 0.000000e+00, double %.100.i
  %.127.i = fadd double %spec.select.i, 1.000000e+00
  %.131.i = fdiv double 1.000000e+00, %.127.i
  %.136.i = fcmp oge double %arg.a0, 0.000000e+00
  %.151.i = fmul double %spec.select.i, %.131.i
  %_make_sigmoid__locals__sigmoid_impl_v52__vphi118_0.2.0.i = select i1 %.136.i, double %.131.i, double %.151.i
  store double %_make_sigmoid__locals__sigmoid_impl_v52__vphi118_0.2.0.i, ptr %retptr, align 8
  ret i32 0
}

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare double @llvm.fabs.f64(double) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none) }
