; returns float total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef i32 @jgh_erf32_f32(ptr noalias writeonly captures(none) initializes((0, 4)) %retptr, ptr noalias readnone captures(none) %excinfo, float %arg.a0) local_unnamed_addr #0 {
B0:
  %.10 = fpext float %arg.a0 to double
  %.11 = tail call reassoc contract double @llvm.fabs.f64(double %.10)
  %.16 = fcmp reassoc contract ogt double %.11, 3.950000e+00
  %erf32_v103__vphi88_0.2.0 = select i1 %.16, double 3.950000e+00, double %.11
  %.33 = fmul reassoc contract double %erf32_v103__vphi88_0.2.0, %erf32_v103__vphi88_0.2.0
  %.34 = fmul reassoc contract double %.33, 0x3E4C225B49F1E3A2
  %0 = fsub reassoc contract double 0x3ED39175FFC4E9AD, %.34
  %.36 = fmul reassoc contract double %.33, %0
  %.37 = fadd reassoc contract double %.36, 0x3F38D664AC2CBFE7
  %.38 = fmul reassoc contract double %.33, %.37
  %.39 = fadd reassoc contract double %.38, 0x3F6F8AEFC2272532
  %.40 = fmul reassoc contract double %.33, %.39
  %.41 = fadd reassoc contract double %.40, 0x3FABCE80FE83EF2E
  %.42 = fmul reassoc contract double %.33, %.41
  %.43 = fadd reassoc contract double %.42, 0x3FC7B6D91D2CA2C7
  %.44 = fmul reassoc contract double %.33, %.43
  %.45 = fadd reassoc contract double %.44, 0x3FF20DD75080F560
  %.46 = fmul reassoc contract double %.33, 0x3F107F5C69005113
  %.47 = fadd reassoc contract double %.46, 0x3F5569B9C11C0D8D
  %.48 = fmul reassoc contract double %.33, %.47
  %.49 = fadd reassoc contract double %.48, 0x3F8FAA273FCA84B7
  %.50 = fmul reassoc contract double %.33, %.49
  %.51 = fadd reassoc contract double %.50, 0x3FBD2D388CE1BB9A
  %.52 = fmul reassoc contract double %.33, %.51
  %.53 = fadd reassoc contract double %.52, 0x3FDFD768A97F2668
  %.54 = fmul reassoc contract double %.33, %.53
  %.55 = fadd reassoc contract double %.54, 1.000000e+00
  %.56 = fmul reassoc contract double %erf32_v103__vphi88_0.2.0, %.45
  %.60 = fdiv reassoc contract double %.56, %.55
  %.65 = fcmp reassoc contract ogt double %.60, 1.000000e+00
  %erf32_v103__vphi274_0.2.0 = select i1 %.65, double 1.000000e+00, double %.60
  %.84 = tail call reassoc contract double @llvm.copysign.f64(double %erf32_v103__vphi274_0.2.0, double %.10)
  %.87 = fptrunc double %.84 to float
  store float %.87, ptr %retptr, align 4
  ret i32 0
}

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare double @llvm.fabs.f64(double) #1

; Function Attrs: nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none)
declare double @llvm.copysign.f64(double, double) #1

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
attributes #1 = { nocallback nocreateundeforpoison nofree nosync nounwind speculatable willreturn memory(none) }
