"""A small demo estate (幸福家园), loaded by `ivr residents demo` and by `ivr run` on a
fresh install, so `ivr call` (caller ID +8613800138000) is greeted as a resident.

In the file format of `ivr residents import`, so it is checked by the same rules.
+8613800138000 owns two units; 陈静 and 刘洋 share one; David Smith speaks English;
building 5 has no entrances (单元).
"""

DEMO_ESTATE_CSV = """\
building,unit,room,name,phone,language
1,1,101,张伟,+8613800138000,zh-CN
3,2,501,张伟,+8613800138000,zh-CN
1,1,102,王芳,+8613800138001,zh-CN
1,2,301,李娜,+8613800138002,zh-CN
2,1,1203,刘洋,+8613800138003,zh-CN
2,1,1203,陈静,+8613800138004,zh-CN
3,1,802,David Smith,+8613800138005,en-US
5,,1601,赵磊,+8613800138006,zh-CN
"""
