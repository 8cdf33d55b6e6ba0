; returns double total
; ModuleID = '<string>'
source_filename = "<string>"
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

; Function Attrs: mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write)
define linkonce_odr noundef range(i32 -1, -2) i32 @jgh_exp_f64(ptr noalias nocapture writeonly initializes((0, 8)) %retptr, ptr noalias nocapture readnone %excinfo, double %arg.a0) local_unnamed_addr #0 {
B0:
  %.10.i = fcmp ogt double %arg.a0, 7.100000e+02
  br i1 %.10.i, label %_ZN7codegen8fastmath15_register_unary12_3clocals_3e3_ol12_3clocals_3e4implB2v6B66c8tJTIeFIjxB2IKSgI4CrvSCKg1MMbCQQPKkLTj8gEGFiHioNsyoh0kUQUzWBAA_3dEd.exit, label %B484.i

B484.i:                                           ; preds = %B0
  %.31.i = fcmp olt double %arg.a0, -7.460000e+02
  br i1 %.31.i, label %_ZN7codegen8fastmath15_register_unary12_3clocals_3e3_ol12_3clocals_3e4implB2v6B66c8tJTIeFIjxB2IKSgI4CrvSCKg1MMbCQQPKkLTj8gEGFiHioNsyoh0kUQUzWBAA_3dEd.exit, label %B506.i

B506.i:                                           ; preds = %B484.i
  br label %_ZN7codegen8fastmath15_register_unary12_3clocals_3e3_ol12_3clocals_3e4implB2v6B66c8tJTIeFIjxB2IKSgI4CrvSCKg1MMbCQQPKkLTj8gEGFiHioNsyoh0kUQUzWBAA_3dEd.exit

_ZN7codegen8fastmath15_register_unary12_3clocals_3e3_ol12_3clocals_3e4implB2v6B66c8tJTIeFIjxB2IKSgI4CrvSCKg1MMbCQQPKkLTj8gEGFiHioNsyoh0kUQUzWBAA_3dEd.exit: ; preds = %B506.i, %B484.i, %B0
  %.314.i = phi i1 [ true, %B484.i ], [ false, %B506.i ], [ false, %B0 ]
  %_make_exp__locals__exp_impl_v7__vphi70_0.2.0.i = phi double [ 0.000000e+00, %B484.i ], [ %arg.a0, %B506.i ], [ 7.100000e+02, %B0 ]
  %const = bitcast i64 4607182418800017408 to i64
  %.52.i = fmul double %_make_exp__locals__exp_impl_v7__vphi70_0.2.0.i, 0x3FF71547652B82FE
  %.53.i = fadd double %.52.i, 0x4338000000000000
  %.54.i = fadd double %.53.i, 0xC338000000000000
  %.55.i = fmul double %.54.i, 0x3FE62E42FEE00000
  %.56.i = fsub double %_make_exp__locals__exp_impl_v7__vphi70_0.2.0.i, %.55.i
  %.57.i = fmul double %.54.i, 0x3DEA39EF35793C76
  %.58.i = fsub double %.56.i, %.57.i
  %.59.i = fmul double %.58.i, %.58.i
  %.61.i = fmul double %.58.i, 0x3E5AF389ECFC4B9C
  %.62.i = fadd double %.61.i, 0x3E928917C89A43A7
  %.63.i = fmul double %.58.i, %.62.i
  %.64.i = fadd double %.63.i, 0x3EC71DE0DB2F6B19
  %.65.i = fmul double %.58.i, %.64.i
  %.66.i = fadd double %.65.i, 0x3EFA019B9149A41C
  %.67.i = fmul double %.58.i, %.66.i
  %.68.i = fadd double %.67.i, 0x3F2A01A01A7C2EFE
  %.69.i = fmul double %.58.i, %.68.i
  %.70.i = fadd double %.69.i, 0x3F56C16C17889EF1
  %.71.i = fmul double %.58.i, %.70.i
  %.72.i = fadd double %.71.i, 0x3F811111111109B5
  %.73.i = fmul double %.58.i, %.72.i
  %.74.i = fadd double %.73.i, 0x3FA5555555553D68
  %.75.i = fmul double %.58.i, %.74.i
  %.76.i = fadd double %.75.i, 0x3FC5555555555556
  %.77.i = fmul double %.58.i, %.76.i
  %.78.i = fadd double %.77.i, 0x3FE0000000000001
  %.79.i = fmul double %.59.i, %.78.i
  %.80.i = fadd double %.58.i, %.79.i
  %.81.i = fadd double %.80.i, 1.000000e+00
  %.82.i = bitcast double %.53.i to i64
  %.83.i = add i64 %.82.i, -4843621399236968448
  %.84.i = ashr i64 %.83.i, 1
  %.85.i = sub i64 %.82.i, %.84.i
  %.86.i = shl i64 %.84.i, 52
  %.87.i = add i64 %.86.i, %const
  %.88.i = bitcast i64 %.87.i to double
  %.89.i = fmul double %.81.i, %.88.i
  %.90.i = shl i64 %.85.i, 52
  %.91.i = add i64 %.90.i, %const
  %.92.i = bitcast i64 %.91.i to double
  %.93.i = fmul double %.89.i, %.92.i
  %spec.select = select i1 %.314.i, double 0.000000e+00, double %.93.i
  store double %spec.select, ptr %retptr, align 8
  ret i32 0
}

attributes #0 = { mustprogress nofree norecurse nosync nounwind willreturn memory(argmem: write) }
