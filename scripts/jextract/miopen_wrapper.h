/* miopen.h uses miopenTensorArgument_t without its struct tag before declaring it, which a C
 * parser rejects; declaring the tag first is all it needs. */
typedef struct miopenTensorArgument_t miopenTensorArgument_t;
#include <miopen/miopen.h>
